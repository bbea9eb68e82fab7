#!/usr/bin/env bash
# Makes the NATS cluster kit's own CA, the nodes' TLS certificate and the two Liaison NATS passwords
# (deploy/README.md, "NATS cluster"), with openssl only (present on a stock Debian):
#
#   bash deploy/nats/cluster/make-certs.sh [OUT_DIR]     # default deploy/secrets/nats
#
# Writes, and never overwrites (delete OUT_DIR to start again):
#   ca.pem        the CA certificate: gateways trust it (--nats-tls-ca); nodes verify routes with it
#   ca-key.pem    the CA's private key (mode 0600): keep it private, or delete it once the certificate is made
#   nats.pem      one certificate for every node (nats-1..3, nats-0..2.nats-headless, localhost, 127.0.0.1),
#                 for the client port and the routes (server and client auth)
#   nats-key.pem  its private key (mode 0600)
#   nats.env      the passwords of the runtime (liaison-gateway) and provisioning (liaison-provision)
#                 identities, random, as the variables both nats-server and `liaison serve` read (mode 0600)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../secrets/nats}"
mkdir -p "$out"
cd "$out"
if [ -f ca.pem ] && [ -f nats.pem ] && [ -f nats.env ]; then
  echo "NATS certificates and passwords already in $out" >&2
  exit 0
fi
command -v openssl >/dev/null || { echo "error: openssl is needed (apt-get install openssl)" >&2; exit 1; }
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=Liaison NATS CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=nats" \
  -keyout nats-key.pem -out nats.csr 2>/dev/null
names="DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:nats-0.nats-headless,DNS:nats-1.nats-headless"
names="$names,DNS:nats-2.nats-headless,DNS:localhost,IP:127.0.0.1"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n' "$names" >nats.ext
openssl x509 -req -in nats.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 -extfile nats.ext \
  -out nats.pem 2>/dev/null
rm -f nats.csr nats.ext ca.srl
{
  echo "# Liaison's two NATS identities (README, \"NATS credentials and TLS\"); read by nats-server and liaison serve."
  echo "LIAISON_NATS_USER=liaison-gateway"
  echo "LIAISON_NATS_PASSWORD=$(openssl rand -hex 24)"
  echo "LIAISON_NATS_PROVISION_USER=liaison-provision"
  echo "LIAISON_NATS_PROVISION_PASSWORD=$(openssl rand -hex 24)"
} >nats.env
# Certificates are public; keys and passwords stay 0600. Containers that run as another user than root
# need the keys made readable to them.
chmod 0644 ca.pem nats.pem
echo "made the NATS CA, node certificate and passwords in $out" >&2
