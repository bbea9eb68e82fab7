//! Who may call the RFI service, against a real gateway: every RPC as every role (the liaison officer
//! included) of a party with oversight (`ia`, the hub) and of one without (`cbp`), on an RFI between them
//! (their own) and on one between two other parties (`nypd` asking its fusion center `fc-ny`). The
//! expected cells are written out here, independently of `identity::authorization::TABLE`. No call
//! changes an RFI, so every cell sees the same state.

use crate::common;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tonic::Code;

const ROLES: [Role; 6] =
    [Role::AgencySystem, Role::Analyst, Role::Operator, Role::Admin, Role::DisclosureOfficer, Role::LiaisonOfficer];

/// For `ia` then `cbp`, each role in [`ROLES`] order: `Y` allowed, `D` refused by the table (PERMISSION_DENIED
/// naming the RPC), `R` admitted by the table and refused by the RFI rule of the caller's side
/// (PERMISSION_DENIED naming an `rfi-` rule), `S` admitted by both and refused by the RFI's status (it is
/// open: work cannot start before it is acknowledged), `I` admitted and refused as a transfer to the
/// requester (INVALID_ARGUMENT).
const EXPECTED: &[(&str, bool, &str)] = &[
    ("ListRfis", true, "YYYYDY YYYYDY"),
    ("ListRfis", false, "DDYYDD DDDDDD"),
    ("GetRfi", true, "YYYYDY YYYYDY"),
    ("GetRfi", false, "DDYYDD DDDDDD"),
    ("UpdateRfi", true, "SSDDDS RRDDDR"),
    ("UpdateRfi", false, "DDDDDD DDDDDD"),
    ("TransferRfi", true, "DDDDDI DDDDDD"),
    ("TransferRfi", false, "DDDDDD DDDDDD"),
];

fn rfi(to: &str, topic: &str) -> pb::Envelope {
    pb::Envelope {
        recipients: vec![to.into()],
        kind: pb::Kind::Rfi as i32,
        topic: topic.into(),
        markings: Some(pb::Markings { banner: "UNCLASSIFIED".into(), ..Default::default() }),
        body: "what do you hold?".into(),
        justification: "an open case".into(),
        ..Default::default()
    }
}

/// The cell one call shows.
fn observed(rpc: &str, result: Result<usize, tonic::Status>) -> String {
    match result {
        Ok(0) => "empty (cannot tell Y from a filtered view)".into(),
        Ok(_) => "Y".into(),
        Err(status) => match status.code() {
            Code::PermissionDenied if status.message().contains(&format!("({rpc})")) => "D".into(),
            Code::PermissionDenied if status.message().contains("rule rfi-") => "R".into(),
            Code::FailedPrecondition if status.message().contains("rfi-status") => "S".into(),
            Code::InvalidArgument if status.message().contains("rfi-transfer-target") => "I".into(),
            code => format!("{code:?}: {}", status.message()),
        },
    }
}

/// Calls `rpc` as `role` of `party` on RFI `id` (for ListRfis: the party `list_party`, empty for its own);
/// `Ok` holds how many items it returned (1 for the non-listings).
async fn call(
    gateway: &TestGateway,
    rpc: &str,
    (party, role): (&str, Role),
    id: &str,
    list_party: &str,
) -> Result<usize, tonic::Status> {
    let mut rfis = gateway.rfis(party, role).await;
    match rpc {
        "ListRfis" => {
            let request = pb::ListRfisRequest { party: list_party.into(), ..Default::default() };
            Ok(rfis.list_rfis(request).await?.into_inner().rfis.len())
        }
        "GetRfi" => rfis.get_rfi(pb::GetRfiRequest { rfi_id: id.into() }).await.map(|_| 1),
        "UpdateRfi" => {
            let transition = pb::RfiTransition::StartWork as i32;
            let request = pb::UpdateRfiRequest { rfi_id: id.into(), transition, reason: String::new() };
            rfis.update_rfi(request).await.map(|_| 1)
        }
        "TransferRfi" => {
            let request = pb::TransferRfiRequest { rfi_id: id.into(), to: "cbp".into(), reason: "back".into() };
            rfis.transfer_rfi(request).await.map(|_| 1)
        }
        _ => unreachable!("{rpc}"),
    }
}

#[tokio::test]
async fn every_rfi_rpc_as_every_role_for_its_own_party_and_another_gets_the_documented_answer() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let own = publish(&mut cbp, rfi("ia", "money-laundering")).await.message_id;
    let mut nypd = gateway.client("nypd", Role::AgencySystem).await;
    let foreign = publish(&mut nypd, rfi("fc-ny", "narcotics")).await.message_id;
    let mut wrong = Vec::new();
    for (rpc, own_party, expected) in EXPECTED {
        let expected: Vec<char> = expected.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(expected.len(), 2 * ROLES.len(), "{rpc}");
        let cells = ["ia", "cbp"].into_iter().flat_map(|party| ROLES.map(|role| (party, role)));
        for (position, caller) in cells.enumerate() {
            let (id, list_party) = if *own_party { (&own, "") } else { (&foreign, "fc-ny") };
            let got = observed(rpc, call(&gateway, rpc, caller, id, list_party).await);
            if got != expected[position].to_string() {
                wrong.push(format!(
                    "{rpc} own={own_party} as {} of {}: expected {}, got {got}",
                    caller.1.name(),
                    caller.0,
                    expected[position]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
    // Nothing moved: both RFIs are as opened.
    let mut reader = gateway.rfis("ia", Role::Operator).await;
    for id in [own, foreign] {
        let rfi = reader.get_rfi(pb::GetRfiRequest { rfi_id: id }).await.unwrap().into_inner().rfi.unwrap();
        assert_eq!((rfi.status(), rfi.history.len()), (pb::RfiStatus::Open, 1));
    }
}
