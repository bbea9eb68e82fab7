#!/usr/bin/env python3
"""CPU per message by stage, from collapsed perf stacks (benches/profile.sh; issue 16).

Input: inferno-collapse-perf output, one stack a line, `root;...;leaf COUNT` (plain or .gz; kernel frames
end in `_[k]`, as `--all` writes them). Each sample is given to ONE stage:

1. claims: a stage that owns a whole subtree (the gateway's audit writer, acks, the pull feed; nats-server's
   acks and consumer delivery) takes the sample if any frame of its stack is one of the stage's;
2. otherwise the tiers in order; in each, the frames are read from the leaf upward and the first frame that
   a rule of that tier matches gives the stage. Library frames (allocation, memcpy, prost, locks, Go's
   runtime.mallocgc, ...) match no rule, so their time goes to the stage of their caller;
3. otherwise `kernel (no user frame)` when the leaf is a kernel frame, else `other`.

A stage's kernel time (system calls, page faults, interrupts under its frames) is its own; the tables also
say how much of each stage's samples end in a kernel frame.

A rule matches a frame by regular expression (re.search); with `parent` it matches only when the frame's
caller (the next frame toward the root) matches that expression too.

usage:
  stages.py gateway FILE --us-per-message US        the gateway's table
  stages.py nats --raw FILE --raw-us US --gateway FILE --gateway-us US
                                                    nats-server's, raw beside behind the gateway
  stages.py leaves FILE [--top N]                   the hottest leaf functions
  stages.py report --dir DIR --bench BENCH.json [--into FILE]
                                                    all of the above from benches/profile.sh's output;
                                                    --into replaces what FILE (BENCHMARKS.md) has between
                                                    the lines BEGIN and END below, instead of printing
  stages.py --self-test                             the attribution's unit tests
"""

import argparse
import collections
import gzip
import json
import os
import re
import sys
import textwrap
import unittest


class Rule:
    """A stage, the frames that are its own, and optionally what must call them."""

    def __init__(self, stage, frames, parent=None):
        self.stage = stage
        self.frames = re.compile("|".join(frames))
        self.parent = re.compile(parent) if parent else None

    def matches(self, frames, index):
        if not self.frames.search(frames[index]):
            return False
        if self.parent is None:
            return True
        return index > 0 and bool(self.parent.search(frames[index - 1]))


class Profile:
    """The stages of one program: their display order, the claims and the tiers of rules."""

    def __init__(self, stages, claims, tiers, normalise=lambda frame: frame):
        self.stages = stages
        self.claims = claims
        self.tiers = tiers
        self.normalise = normalise

    def attribute(self, frames):
        frames = [self.normalise(frame) for frame in frames]
        for rule in self.claims:
            if any(rule.matches(frames, index) for index in range(len(frames))):
                return rule.stage
        for tier in self.tiers:
            for index in range(len(frames) - 1, -1, -1):
                for rule in tier:
                    if rule.matches(frames, index):
                        return rule.stage
        if frames and is_kernel(frames[-1]):
            return "kernel (no user frame)"
        return "other"


def is_kernel(frame):
    return frame.endswith("_[k]")


# --- the gateway (`liaison serve`) ---

GATEWAY_STAGES = [
    "decode",
    "validate",
    "route",
    "encode copies",
    "JetStream publish",
    "audit",
    "pull",
    "decode stored copy",
    "personal check",
    "encode delivery",
    "ack",
    "traffic accounting",
    "NATS client I/O",
    "HTTP/2 + TLS",
    "publish loop (other)",
    "subscribe loop (other)",
    "runtime",
    "kernel (no user frame)",
    "other",
]

GATEWAY = Profile(
    GATEWAY_STAGES,
    claims=[
        # The audit writer task (its JetStream publishes included), the records, their queueing and wait.
        Rule(
            "audit",
            [
                r"^liaison::bus::audit::",
                r"^liaison::audit::",
                r"<liaison::audit::",
                r"liaison::audit::AuditRecord>",
                r"^liaison::grpc::subscribe::session::Session::(audit|withheld)\b",
            ],
        ),
        Rule(
            "ack",
            [r"^liaison::bus::feed::Feed::settle", r"^liaison::bus::feed::AckHandle::settle"],
        ),
        Rule(
            "pull",
            [
                r"^liaison::bus::feed::Feed::next",
                r"^liaison::bus::feed::delivery",
                r"async_nats::jetstream::consumer::pull::",
            ],
        ),
    ],
    tiers=[
        [
            Rule("decode", [r"^tonic::codec::decode::", r"<tonic::codec::decode::", r"ProstDecoder"]),
            Rule(
                "validate",
                [
                    r"^liaison::grpc::convert::",
                    r"^liaison::grpc::auth::",
                    r"^liaison::grpc::quota::",
                    r"^liaison::identity::token::",
                    r"^liaison::model::token::",
                    # prepare's own work: ids, time, the unknown-recipient limit (inlined).
                    r"^liaison::grpc::publish::<impl liaison::grpc::server::Gateway>::prepare\b",
                ],
            ),
            Rule("route", [r"^liaison::router::", r"<impl liaison::router::", r"delivery_subject"]),
            Rule(
                "encode copies",
                [r"^prost::message::Message::encode_to_vec$"],
                parent=r"Gateway>::prepare\b",
            ),
            Rule("encode copies", [r"^liaison::grpc::publish::copy_for"]),
            Rule(
                "JetStream publish",
                [
                    r"async_nats::jetstream::context::",
                    r"async_nats::jetstream::message::PublishMessage",
                    r"^liaison::bus::Bus::publish",
                    r"^liaison::bus::headers::",
                    # finish's own work: the inlined Bus::publish (subject, headers), the receipt.
                    r"^liaison::grpc::publish::Prepared::finish\b",
                    r"^liaison::grpc::publish::(send|delivered|denied)\b",
                ],
            ),
            Rule(
                "decode stored copy",
                [r"^prost::message::Message::decode$"],
                parent=r"^liaison::grpc::subscribe::session::Session::",
            ),
            Rule(
                "personal check",
                [
                    r"^liaison::grpc::subscribe::personal::",
                    r"withhold_reason",
                    r"^liaison::grpc::subscribe::disposition::",
                    r"^liaison::grpc::subscribe::session::Session::arrival\b",
                ],
            ),
            Rule(
                "encode delivery",
                [
                    r"^tonic::codec::encode::",
                    r"<tonic::codec::encode::",
                    r"ProstEncoder",
                    # tonic 0.14 encodes a response stream inside its body's poll_frame.
                    r"^<tonic::body::Body as http_body::Body>::poll_frame$",
                ],
            ),
            Rule(
                "ack",
                [r"^liaison::grpc::subscribe::outstanding::", r"^liaison::grpc::subscribe::ack_ids::"],
            ),
            Rule("traffic accounting", [r"^liaison::traffic::", r"<liaison::traffic::"]),
            Rule(
                "NATS client I/O",
                [r"async_nats::connection::", r"async_nats::ConnectionHandler", r"^async_nats::connect_with_options"],
            ),
            Rule("HTTP/2 + TLS", [r"^h2::", r"<h2::", r"hyper::body::incoming", r"rustls"]),
        ],
        [
            Rule("HTTP/2 + TLS", [r"hyper::", r"hyper_util::", r"^tonic::transport::", r"<tonic::transport::"]),
            Rule("publish loop (other)", [r"^liaison::grpc::publish", r"<liaison::grpc::publish"]),
            Rule("subscribe loop (other)", [r"^liaison::grpc::subscribe", r"<liaison::grpc::subscribe"]),
            # PublishStream's loop is inlined into the Instrumented future its task is spawned as (the
            # subscribe session and the publishes under it have frames of their own, matched first).
            Rule("publish loop (other)", [r"^<tracing::instrument::Instrumented<T> as core::future::future::Future>::poll$"]),
        ],
        [Rule("runtime", [r"tokio::", r"futures_util::", r"futures_core::", r"tracing::", r"^std::"])],
    ],
)


# --- nats-server ---

NATS_STAGES = [
    "client parse/inbound",
    "permissions (pubAllowed)",
    "headers (getHeader)",
    "dedup (storeMsgId/checkMsgId)",
    "stream processing (other)",
    "JetStream store (fileStore)",
    "consumer delivery",
    "acks",
    "client outbound (flush)",
    "runtime/GC",
    "kernel (no user frame)",
    "other",
]

NATS_PREFIX = re.compile(r"github\.com/nats-io/nats-server/v2/server\.")

NATS = Profile(
    NATS_STAGES,
    claims=[
        Rule(
            "acks",
            [
                r"\(\*consumer\)\.processAck",
                r"\(\*consumer\)\.processInboundAcks",
                r"\(\*consumer\)\.pushAck",
                r"\(\*consumer\)\.processNak",
                r"\(\*consumer\)\.processTerm",
                r"\(\*consumer\)\.ackMsg",
            ],
        ),
        # Everything the consumer does to deliver, its loads from the store included.
        Rule(
            "consumer delivery",
            [
                r"\(\*consumer\)\.loopAndGatherMsgs",
                r"\(\*consumer\)\.getNextMsg",
                r"\(\*consumer\)\.deliverMsg",
                r"\(\*consumer\)\.processNextMsgReq",
                r"\(\*consumer\)\.processWaiting",
                r"\(\*consumer\)\.processNextMsgRequest",
            ],
        ),
    ],
    tiers=[
        [
            Rule("permissions (pubAllowed)", [r"pubAllowed", r"\.canSubscribe", r"checkDenySub", r"PermissionViolation"]),
            Rule("headers (getHeader)", [r"getHeader", r"sliceHeader", r"genHeaderMap", r"removeHeaderIf", r"setHeader"]),
            Rule("dedup (storeMsgId/checkMsgId)", [r"storeMsgId", r"checkMsgId", r"purgeMsgIds", r"\.ddPurge"]),
            Rule("JetStream store (fileStore)", [r"\(\*fileStore\)", r"\(\*msgBlock\)", r"klauspost/compress", r"\(\*memStore\)"]),
            Rule("client outbound (flush)", [r"\(\*client\)\.flushOutbound", r"\(\*client\)\.writeLoop", r"flushClients"]),
        ],
        [
            Rule("stream processing (other)", [r"\(\*stream\)\.", r"\(\*jetStream\)", r"\(\*Account\)\.jetStream"]),
            Rule(
                "client parse/inbound",
                [
                    r"\(\*client\)\.",
                    r"\(\*Sublist\)",
                    r"\bmatchLevel\b",
                    r"ipQueue",
                ],
            ),
        ],
        [Rule("runtime/GC", [r"^runtime\.", r"^internal/runtime", r"^runtime/", r"^sync\.", r"^time\."])],
    ],
    normalise=lambda frame: NATS_PREFIX.sub("", frame),
)

PROFILES = {"gateway": GATEWAY, "nats": NATS}

BEGIN = "<!-- benches/profile.sh: begin (stages.py report writes what follows) -->"
END = "<!-- benches/profile.sh: end -->"


# --- reading and counting ---


def read_folded(path):
    """Yields (frames, count) of each line of a collapsed-stacks file (.gz or plain)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        yield from parse_folded(lines)


def parse_folded(lines):
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        try:
            weight = int(count)
        except ValueError:
            raise SystemExit(f"not a collapsed-stacks line: {line[:120]}")
        yield stack.split(";"), weight


class Share:
    """A stage's fraction of all samples, and the fraction of its own samples that end in the kernel."""

    def __init__(self, fraction, kernel):
        self.fraction = fraction
        self.kernel = kernel


def shares(profile, stacks):
    """{stage: Share}, every stage of the profile present, in its order."""
    totals, kernel = collections.Counter(), collections.Counter()
    for frames, count in stacks:
        stage = profile.attribute(frames)
        totals[stage] += count
        if frames and is_kernel(frames[-1]):
            kernel[stage] += count
    whole = sum(totals.values()) or 1
    return {stage: Share(totals[stage] / whole, kernel[stage] / (totals[stage] or 1)) for stage in profile.stages}


def kernel_fraction(stacks):
    whole = sum(count for _, count in stacks) or 1
    return sum(count for frames, count in stacks if frames and is_kernel(frames[-1])) / whole


def leaves(stacks, top):
    totals = collections.Counter()
    for frames, count in stacks:
        totals[frames[-1]] += count
    whole = sum(totals.values()) or 1
    return [(frame, count / whole) for frame, count in totals.most_common(top)]


# --- tables ---


def gateway_table(fractions, us_per_message):
    rows = [
        "| stage | share of samples | µs per delivered message | of it in the kernel |",
        "| --- | ---: | ---: | ---: |",
    ]
    for stage, share in fractions.items():
        rows.append(
            f"| {stage} | {100 * share.fraction:.1f} % | {share.fraction * us_per_message:.2f} | {100 * share.kernel:.0f} % |"
        )
    kernel = sum(share.fraction * share.kernel for share in fractions.values())
    rows.append(f"| **total** | 100 % | **{us_per_message:.2f}** | {100 * kernel:.0f} % |")
    return "\n".join(rows)


def nats_table(raw, raw_us, gateway, gateway_us):
    rows = [
        "| stage | raw: share | raw: µs/msg | gateway: share | gateway: µs/msg | difference µs/msg |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage in raw:
        r, g = raw[stage].fraction, gateway[stage].fraction
        a, b = r * raw_us, g * gateway_us
        rows.append(f"| {stage} | {100 * r:.1f} % | {a:.2f} | {100 * g:.1f} % | {b:.2f} | {b - a:+.2f} |")
    rows.append(f"| **total** | 100 % | **{raw_us:.2f}** | 100 % | **{gateway_us:.2f}** | **{gateway_us - raw_us:+.2f}** |")
    return "\n".join(rows)


def leaves_table(stacks, top):
    rows = ["| leaf function | share of samples |", "| --- | ---: |"]
    for frame, fraction in leaves(stacks, top):
        name = NATS_PREFIX.sub("", frame).replace("|", "\\|")
        rows.append(f"| `{name[:110]}` | {100 * fraction:.1f} % |")
    return "\n".join(rows)


def replace_block(text, block):
    """`text` with what stands between BEGIN and END replaced by `block`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"no {BEGIN} ... {END} block to replace")
    return text[: start + len(BEGIN)] + "\n" + block.rstrip("\n") + "\n" + text[end:]


def report(directory, bench_path, top, about=""):
    with open(bench_path, encoding="utf-8") as file:
        bench = json.load(file)
    phase = bench["throughput"][0]
    gateway_us = phase["gateway_cpu"]["gateway_us"]
    nats_raw_us, nats_gateway_us = phase["raw_cpu"]["nats_us"], phase["gateway_cpu"]["nats_us"]
    size = phase["payload_bytes"]

    def stacks(name):
        return list(read_folded(os.path.join(directory, name + ".folded.gz")))

    gateway, nats, nats_raw = stacks("gateway-throughput"), stacks("nats-server-throughput"), stacks("nats-server-raw-throughput")
    environment = bench.get("environment", {})
    command = environment.get("command", "liaison bench ?").split(" ", 1)
    command = " ".join([os.path.basename(command[0])] + command[1:])
    summary = (
        f"Throughput phase, {size} B payloads: the gateway delivered {phase['gateway_delivered_per_s']:,.0f} msg/s "
        f"and raw JetStream {phase['raw_delivered_per_s']:,.0f} msg/s in the bench without perf "
        f"({environment.get('date', '?')[:10]}, `{command}`). CPU per delivered message: "
        f"gateway {gateway_us:.1f} µs, nats-server {nats_gateway_us:.1f} µs behind the gateway and "
        f"{nats_raw_us:.1f} µs raw. Each stage's µs is its share of the perf samples times that figure. "
        f"Samples ending in a kernel frame: gateway {100 * kernel_fraction(gateway):.0f} %, nats-server "
        f"{100 * kernel_fraction(nats):.0f} % behind the gateway and {100 * kernel_fraction(nats_raw):.0f} % raw."
        + (f" Profiled: {about}." if about else "")
    )
    out = [
        textwrap.fill(summary, width=110, break_long_words=False, break_on_hyphens=False),
        "",
        "**The gateway (`liaison serve`), per delivered message:**",
        "",
        gateway_table(shares(GATEWAY, gateway), gateway_us),
        "",
        "**nats-server, raw JetStream beside behind the gateway, per delivered message:**",
        "",
        nats_table(shares(NATS, nats_raw), nats_raw_us, shares(NATS, nats), nats_gateway_us),
        "",
        f"**Hottest leaf functions, gateway** (allocator and memcpy included where they are leaves):",
        "",
        leaves_table(gateway, top),
        "",
        "**Hottest leaf functions, nats-server behind the gateway:**",
        "",
        leaves_table(nats, top),
        "",
        "**Hottest leaf functions, nats-server raw:**",
        "",
        leaves_table(nats_raw, top),
    ]
    return "\n".join(out)


# --- tests ---


class AttributionTests(unittest.TestCase):
    def gateway(self, line):
        return GATEWAY.attribute(line.split(";"))

    def nats(self, line):
        return NATS.attribute(line.split(";"))

    def test_a_publish_sent_from_finish_is_jetstream_publish_and_its_allocation_too(self):
        stack = (
            "tokio-rt-worker;[unknown];tokio::runtime::task::harness::Harness<T,S>::poll;"
            "liaison::grpc::publish::Prepared::finish::{{closure}};"
            "async_nats::jetstream::context::Context::send_publish::{{closure}};_mi_page_malloc_zero"
        )
        self.assertEqual(self.gateway(stack), "JetStream publish")
        self.assertEqual(self.gateway("w;liaison::grpc::publish::Prepared::finish::{{closure}};__memcpy_avx512"), "JetStream publish")

    def test_the_audit_writers_own_jetstream_publishes_are_audit(self):
        stack = (
            "w;tokio::runtime::task::core::Core<T,S>::poll;liaison::bus::audit::write::{{closure}};"
            "<futures_util::stream::futures_unordered::FuturesUnordered<Fut> as futures_core::stream::Stream>::poll_next;"
            "async_nats::jetstream::context::PublishAckFuture::next_with_timeout::{{closure}}"
        )
        self.assertEqual(self.gateway(stack), "audit")
        self.assertEqual(self.gateway("w;liaison::audit::ChainHead::seal_encoded;sha2::sha256::x86::digest_blocks"), "audit")

    def test_prepare_splits_into_validate_route_encode_and_audit(self):
        prepare = "w;liaison::grpc::publish::<impl liaison::grpc::server::Gateway>::prepare::{{closure}}"
        self.assertEqual(self.gateway(prepare + ";liaison::grpc::convert::route_request;mi_free"), "validate")
        self.assertEqual(self.gateway(prepare + ";ulid::Ulid::to_string"), "validate")
        self.assertEqual(self.gateway(prepare + ";liaison::router::decide::<impl liaison::router::Router>::route"), "route")
        self.assertEqual(
            self.gateway(prepare + ";prost::message::Message::encode_to_vec;<liaison::api::Envelope as prost::message::Message>::encoded_len"),
            "encode copies",
        )
        self.assertEqual(self.gateway(prepare + ";liaison::grpc::publish::copy_for;__memcpy"), "encode copies")
        self.assertEqual(self.gateway(prepare + ";liaison::bus::audit::AuditLog::append::{{closure}}"), "audit")
        self.assertEqual(self.gateway(prepare + ";liaison::audit::records::<impl liaison::audit::AuditRecord>::approved"), "audit")

    def test_request_decoding_is_decode_and_stored_copy_decoding_is_not(self):
        request = (
            "w;<tonic::codec::decode::Streaming<T> as futures_core::stream::Stream>::poll_next;"
            "<tonic_prost::codec::ProstDecoder<U> as tonic::codec::Decoder>::decode;prost::message::Message::decode;"
            "prost::encoding::string::merge"
        )
        self.assertEqual(self.gateway(request), "decode")
        # The subscriber's acks arrive on its request stream, decoded inside the session: still decode.
        self.assertEqual(self.gateway("w;liaison::grpc::subscribe::session::Session::run::{{closure}};" + request[2:]), "decode")
        stored = "w;liaison::grpc::subscribe::session::Session::batch::{{closure}};prost::message::Message::decode;prost::encoding::merge_loop"
        self.assertEqual(self.gateway(stored), "decode stored copy")

    def test_the_subscribe_path_stages(self):
        batch = "w;liaison::grpc::subscribe::session::Session::run::{{closure}};liaison::grpc::subscribe::session::Session::batch::{{closure}}"
        self.assertEqual(self.gateway(batch + ";futures_util::future::future::FutureExt::now_or_never;liaison::bus::feed::Feed::next::{{closure}};liaison::bus::feed::delivery;async_nats::header::HeaderMap::get"), "pull")
        self.assertEqual(self.gateway(batch + ";liaison::grpc::subscribe::session::Session::withhold_reason;liaison::grpc::subscribe::personal::withhold_reason"), "personal check")
        self.assertEqual(self.gateway(batch + ";liaison::grpc::subscribe::session::Session::audit;liaison::audit::records::<impl liaison::audit::AuditRecord>::delivered"), "audit")
        self.assertEqual(self.gateway(batch + ";liaison::grpc::subscribe::outstanding::Outstanding::insert"), "ack")
        self.assertEqual(self.gateway(batch + ";__memcpy_avx512_unaligned_erms"), "subscribe loop (other)")
        self.assertEqual(self.gateway("w;liaison::grpc::subscribe::session::Session::run::{{closure}};liaison::bus::feed::Feed::settle::{{closure}};async_nats::client::Client::publish"), "ack")
        self.assertEqual(self.gateway(batch + ";liaison::traffic::Traffic::flow"), "traffic accounting")

    def test_the_publish_stream_loop_inlined_into_its_instrumented_task_is_the_publish_loop(self):
        task = "w;tokio::runtime::task::core::Core<T,S>::poll;<tracing::instrument::Instrumented<T> as core::future::future::Future>::poll"
        self.assertEqual(self.gateway(task + ";__memmove_avx512_unaligned_erms"), "publish loop (other)")
        self.assertEqual(self.gateway(task + ";futures_util::stream::futures_ordered::FuturesOrdered<Fut>::push_back"), "publish loop (other)")
        self.assertEqual(self.gateway(task + ";liaison::grpc::subscribe::session::Session::run::{{closure}};mi_free"), "subscribe loop (other)")

    def test_response_encoding_is_encode_delivery_but_reading_the_request_body_is_http2(self):
        body = (
            "w;<hyper::proto::h2::PipeToSendStream<S> as core::future::future::Future>::poll;"
            "<tonic::body::Body as http_body::Body>::poll_frame;"
            "<http_body_util::combinators::map_err::MapErr<B,F> as http_body::Body>::poll_frame"
        )
        self.assertEqual(self.gateway(body + ";prost::message::Message::encode;prost::encoding::varint::encode_varint"), "encode delivery")
        self.assertEqual(self.gateway(body + ";<hyper::body::incoming::Incoming as http_body::Body>::poll_frame"), "HTTP/2 + TLS")
        self.assertEqual(self.gateway("w;h2::proto::connection::Connection<T,P,B>::poll;h2::codec::framed_write::FramedWrite<T,B>::flush;tcp_sendmsg_[k]"), "HTTP/2 + TLS")

    def test_nats_io_runtime_kernel_and_other(self):
        self.assertEqual(self.gateway("w;<async_nats::ConnectionHandler::process::{{closure}}::ProcessFut as core::future::future::Future>::poll;async_nats::connection::Connection::poll_write;tcp_sendmsg_[k]"), "NATS client I/O")
        self.assertEqual(self.gateway("w;tokio::runtime::scheduler::multi_thread::worker::Context::park_internal;do_epoll_wait_[k]"), "runtime")
        self.assertEqual(self.gateway("w;[unknown];finish_task_switch.isra.0_[k]"), "kernel (no user frame)")
        self.assertEqual(self.gateway("w;[unknown];__memcpy_avx512_unaligned_erms"), "other")

    def test_nats_stages(self):
        server = "github.com/nats-io/nats-server/v2/server."
        inbound = f"nats-server;runtime.goexit.abi0;{server}(*client).readLoop;{server}(*client).parse;{server}(*client).processInboundClientMsg"
        self.assertEqual(self.nats(inbound + ";runtime.mapaccess2_faststr"), "client parse/inbound")
        self.assertEqual(self.nats(inbound + f";{server}(*client).pubAllowedFullCheck;runtime.mapaccess2_faststr"), "permissions (pubAllowed)")
        stream = f"nats-server;{server}(*stream).internalLoop;{server}(*stream).processJetStreamMsgWithBatch"
        self.assertEqual(self.nats(stream + f";{server}(*fileStore).StoreMsg;{server}(*msgBlock).writeAt;os.(*File).WriteAt;vfs_write_[k]"), "JetStream store (fileStore)")
        self.assertEqual(self.nats(stream + f";{server}(*stream).storeMsgIdLocked;runtime.mapassign_faststr"), "dedup (storeMsgId/checkMsgId)")
        self.assertEqual(self.nats(stream + f";{server}getHeader;bytes.Index"), "headers (getHeader)")
        self.assertEqual(self.nats(stream + ";runtime.mallocgc"), "stream processing (other)")
        consumer = f"nats-server;{server}(*consumer).loopAndGatherMsgs;{server}(*consumer).getNextMsg"
        self.assertEqual(self.nats(consumer + f";{server}(*fileStore).LoadNextMsg"), "consumer delivery")
        self.assertEqual(self.nats(inbound + f";{server}(*client).processMsgResults;{server}(*consumer).processAck;{server}ackReplyInfo"), "acks")
        self.assertEqual(self.nats(f"nats-server;{server}(*client).writeLoop;{server}(*client).flushOutbound;tcp_sendmsg_[k]"), "client outbound (flush)")
        self.assertEqual(self.nats("nats-server;runtime.gcBgMarkWorker;runtime.gcDrain"), "runtime/GC")
        self.assertEqual(self.nats("nats-server;finish_task_switch.isra.0_[k]"), "kernel (no user frame)")

    def test_a_folded_line_parses_and_shares_sum_to_one(self):
        stacks = list(parse_folded(["a;b;liaison::router::x 3\n", "a;liaison::grpc::convert::y 1\n", "\n"]))
        self.assertEqual(stacks, [(["a", "b", "liaison::router::x"], 3), (["a", "liaison::grpc::convert::y"], 1)])
        fractions = shares(GATEWAY, stacks)
        self.assertAlmostEqual(fractions["route"].fraction, 0.75)
        self.assertAlmostEqual(fractions["validate"].fraction, 0.25)
        self.assertAlmostEqual(sum(share.fraction for share in fractions.values()), 1.0)
        self.assertIn("| route | 75.0 % | 7.50 | 0 % |", gateway_table(fractions, 10.0))

    def test_the_marked_block_is_replaced_and_the_rest_kept(self):
        text = f"# B\nbefore\n{BEGIN}\nold table\n{END}\nafter\n"
        self.assertEqual(replace_block(text, "new\n"), f"# B\nbefore\n{BEGIN}\nnew\n{END}\nafter\n")
        with self.assertRaises(SystemExit):
            replace_block("no markers", "new")

    def test_kernel_time_under_a_stage_is_the_stages_and_counted_as_in_the_kernel(self):
        stacks = list(parse_folded(["w;liaison::router::x;page_fault_[k] 1\n", "w;liaison::router::x 3\n"]))
        fractions = shares(GATEWAY, stacks)
        self.assertAlmostEqual(fractions["route"].fraction, 1.0)
        self.assertAlmostEqual(fractions["route"].kernel, 0.25)
        self.assertAlmostEqual(kernel_fraction(stacks), 0.25)
        self.assertEqual(leaves(stacks, 1), [("liaison::router::x", 0.75)])


def main(argv):
    if "--self-test" in argv:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(AttributionTests)
        return 0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gateway = commands.add_parser("gateway", help="the gateway's table")
    gateway.add_argument("file")
    gateway.add_argument("--us-per-message", type=float, required=True)
    nats = commands.add_parser("nats", help="nats-server's table, raw beside behind the gateway")
    nats.add_argument("--raw", required=True)
    nats.add_argument("--raw-us", type=float, required=True)
    nats.add_argument("--gateway", required=True)
    nats.add_argument("--gateway-us", type=float, required=True)
    leaf = commands.add_parser("leaves", help="the hottest leaf functions")
    leaf.add_argument("file")
    leaf.add_argument("--top", type=int, default=10)
    both = commands.add_parser("report", help="every table, from benches/profile.sh's output directory")
    both.add_argument("--dir", required=True)
    both.add_argument("--bench", required=True)
    both.add_argument("--top", type=int, default=10)
    both.add_argument("--about", default="", help="what was profiled (commit, date, load), for the summary")
    both.add_argument("--into", help="replace the marked block of this file (BENCHMARKS.md) instead of printing")
    args = parser.parse_args(argv)
    if args.command == "gateway":
        print(gateway_table(shares(GATEWAY, read_folded(args.file)), args.us_per_message))
    elif args.command == "nats":
        raw, behind = shares(NATS, read_folded(args.raw)), shares(NATS, read_folded(args.gateway))
        print(nats_table(raw, args.raw_us, behind, args.gateway_us))
    elif args.command == "leaves":
        print(leaves_table(list(read_folded(args.file)), args.top))
    elif args.into:
        with open(args.into, encoding="utf-8") as file:
            text = file.read()
        with open(args.into, "w", encoding="utf-8") as file:
            file.write(replace_block(text, report(args.dir, args.bench, args.top, args.about)))
    else:
        print(report(args.dir, args.bench, args.top, args.about))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
