//! Replaying decisions recorded as a publish records them, under drafts that remove or add a rule.

use super::*;
use crate::audit::MessageRef;
use crate::model::{PartyId, Tlp};
use crate::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY};

fn router(policy: &str) -> Router {
    Router::load(("d", DEFAULT_DIRECTORY), ("p", policy)).unwrap()
}

fn party(id: &str) -> PartyId {
    Token::parse(id).unwrap()
}

fn request(origin: &str, recipients: &[&str], topic: &str) -> RouteRequest {
    RouteRequest {
        origin: party(origin),
        recipients: recipients.iter().map(|id| party(id)).collect(),
        kind: Kind::Report,
        topic: party(topic),
        markings: Markings::unclassified(),
        precedence: Precedence::Routine,
    }
}

/// The records a publish of `request` writes under `router` (as grpc/publish.rs writes them).
fn recorded_publish(id: &str, request: &RouteRequest, router: &Router) -> Vec<AuditRecord<'static>> {
    let routing = router.route(request).unwrap();
    let origin = request.origin.to_string();
    let message = MessageRef { message_id: id, origin: &origin, policy_version: router.version() };
    let banner = request.markings.banner();
    let mut records = Vec::new();
    for outcome in &routing.outcomes {
        let record = match outcome {
            Outcome::Deliver(approval) => {
                let subject = format!(
                    "liaison.feed.{}.{origin}.{}.{}",
                    approval.recipient(),
                    request.kind.token(),
                    request.topic
                );
                let record =
                    AuditRecord::approved(&message, approval.recipient().as_str(), approval.rule(), "", &subject);
                record.under_markings(&banner).routed_as(request, false).into_owned()
            }
            Outcome::Hold(hold) => {
                AuditRecord::held(&message, hold.recipient.as_str(), "").routed_as(request, true).into_owned()
            }
            Outcome::Deny(denial) => AuditRecord::denied(&message, denial.recipient.as_str(), &denial.decided_by())
                .under_markings(&banner)
                .routed_as(request, true)
                .into_owned(),
        };
        records.push(record);
    }
    records
}

const CBP_TO_FBI: &str = "\n[[rule]]\nname = \"cbp-to-fbi\"\nbasis = \"t\"\nfrom = [\"cbp\"]\nto = [\"fbi\"]\n";

#[test]
fn under_the_same_policy_nothing_changes() {
    let old = router(DEFAULT_POLICY);
    let mut entry = recorded_publish("m1", &request("cbp", &["ia", "ice", "fbi"], "money-laundering"), &old);
    entry.extend(recorded_publish("m2", &request("cbp", &[], "border-security"), &old));
    let replayed = replay_entry(&entry, &old, None);
    assert_eq!((replayed.decisions, replayed.skipped, replayed.changed.len()), (4, 0, 0), "{replayed:?}");
}

#[test]
fn a_removed_rule_turns_deliveries_into_denials_and_an_added_one_denials_into_deliveries() {
    let old = router(DEFAULT_POLICY);
    let draft = DEFAULT_POLICY.replace("name = \"border-crime-relay-cbp-ice\"", "name = \"x\"\nkinds = [\"alert\"]")
        + CBP_TO_FBI;
    let draft = router(&draft);
    let entry = recorded_publish("m1", &request("cbp", &["ia", "ice", "fbi"], "money-laundering"), &old);
    let replayed = replay_entry(&entry, &draft, None);
    let changes: Vec<String> = replayed
        .changed
        .iter()
        .map(|c| {
            format!(
                "{} {}->{}: {} {} -> {} {}",
                c.message_id, c.origin, c.recipient, c.before, c.before_by, c.after, c.after_by
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            "m1 cbp->ice: delivered border-crime-relay-cbp-ice -> denied RULE_LIMITS (x)",
            "m1 cbp->fbi: denied NO_ROUTE -> delivered cbp-to-fbi",
        ]
    );
}

#[test]
fn a_relay_delivery_is_decided_with_the_relay_party_of_the_same_message() {
    // CBP -> ICE stands only because I&A receives the message too: the draft sees both recipients.
    let old = router(DEFAULT_POLICY);
    let entry = recorded_publish("m1", &request("cbp", &["ia", "ice"], "money-laundering"), &old);
    assert_eq!(replay_entry(&entry, &old, None).changed, vec![]);
    let without_ia = router(&DEFAULT_POLICY.replace(
        "to = [\"ia\"]\n\n[[rule]]\nname = \"ia-dissemination-to-hosts\"",
        "to = [\"ia-mc-ct\"]\n\n[[rule]]\nname = \"ia-dissemination-to-hosts\"",
    ));
    let changed = replay_entry(&entry, &without_ia, None).changed;
    let recipients: Vec<(&str, State)> = changed.iter().map(|c| (c.recipient.as_str(), c.after)).collect();
    assert_eq!(recipients, [("ia", State::Denied), ("ice", State::Denied)]);
}

#[test]
fn route_by_policy_is_routed_by_policy_again_and_tlp_and_precedence_count() {
    let old = router(DEFAULT_POLICY);
    let mut by_policy = request("cbp", &[], "border-security");
    by_policy.markings.tlp = Some(Tlp::Red);
    by_policy.precedence = Precedence::Flash;
    let entry = recorded_publish("m1", &by_policy, &old);
    assert_eq!(entry[0].event, Event::Denied, "TLP:RED is never routed by policy");
    assert_eq!((&*entry[0].tlp, &*entry[0].precedence, entry[0].by_policy), ("red", "flash", true));
    assert_eq!(replay_entry(&entry, &old, None).changed, vec![]);
    // A draft limiting the rule to other precedences denies it still; one letting ... nothing to deliver.
    let flash_only = router(&DEFAULT_POLICY.replace("to = [\"ia\"]\n", "to = [\"ia\"]\nprecedences = [\"routine\"]\n"));
    assert_eq!(replay_entry(&entry, &flash_only, None).decisions, 1);
}

#[test]
fn only_the_visible_party_s_decisions_are_replayed_and_reported() {
    let old = router(DEFAULT_POLICY);
    let draft = router(&(DEFAULT_POLICY.to_string() + CBP_TO_FBI));
    let mut entry = recorded_publish("m1", &request("cbp", &["ia", "fbi"], "money-laundering"), &old);
    entry.extend(recorded_publish("m2", &request("ia", &["fbi", "cbp"], "money-laundering"), &old));
    let as_ice = replay_entry(&entry, &draft, Some("ice"));
    assert_eq!((as_ice.decisions, as_ice.changed.len()), (0, 0));
    let as_ia = replay_entry(&entry, &draft, Some("ia"));
    assert_eq!((as_ia.decisions, as_ia.changed.len()), (3, 0));
    let as_fbi = replay_entry(&entry, &draft, Some("fbi"));
    assert_eq!((as_fbi.decisions, as_fbi.changed.len()), (2, 1));
}

#[test]
fn old_records_without_kind_and_topic_are_skipped_or_read_from_the_subject() {
    let old = router(DEFAULT_POLICY);
    let mut entry = recorded_publish("m1", &request("cbp", &["fbi"], "money-laundering"), &old);
    entry[0].kind = "".into();
    entry[0].topic = "".into();
    let replayed = replay_entry(&entry, &old, None);
    assert_eq!((replayed.decisions, replayed.skipped), (0, 1));
    // An approval's subject gives them.
    let mut entry = recorded_publish("m2", &request("cbp", &["ia", "fbi"], "money-laundering"), &old);
    for record in &mut entry {
        record.kind = "".into();
        record.topic = "".into();
    }
    let replayed = replay_entry(&entry, &old, None);
    assert_eq!((replayed.decisions, replayed.skipped, replayed.changed.len()), (2, 0, 0));
}

#[test]
fn records_that_are_not_router_decisions_are_ignored() {
    let message = MessageRef { message_id: "m1", origin: "cbp", policy_version: "v" };
    let entry =
        vec![AuditRecord::delivered(&message, "ia", "analyst", "ok"), AuditRecord::purged(&message, "ia", "op", "r")];
    assert_eq!(replay_entry(&entry, &router(DEFAULT_POLICY), None), Replayed::default());
}
