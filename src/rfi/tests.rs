//! The RFI state machine: every transition from every status, and every actor rule.

use std::time::Duration;

use super::*;

const REQUESTER: &str = "nyc-fusion";
const ACTION: &str = "ia";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn record(status: Status) -> RfiRecord {
    let opening = Opening {
        id: "01RFI".into(),
        requester: REQUESTER.into(),
        requester_person: "system-nyc".into(),
        action_party: ACTION.into(),
        topic: "counter-terrorism".into(),
        banner: "UNCLASSIFIED".into(),
        precedence: "flash".into(),
        title: "Who rented the van".into(),
        justification: "open case 42".into(),
        due_at: now() + Duration::from_secs(600),
        copy_sequence: 7,
    };
    RfiRecord { status, ..RfiRecord::open(opening, now()) }
}

fn caller(party: &str, role: Role) -> Actor<'_> {
    Actor::Caller { party, person: "someone", role }
}

/// Who normally makes each transition.
fn usual_actor(transition: &Transition) -> Actor<'static> {
    match transition {
        Transition::Close | Transition::Reopen { .. } => caller(REQUESTER, Role::AgencySystem),
        Transition::Transfer { .. } => caller(ACTION, Role::LiaisonOfficer),
        Transition::Expire => Actor::Gateway,
        _ => caller(ACTION, Role::Analyst),
    }
}

fn transitions() -> Vec<Transition> {
    vec![
        Transition::Acknowledge,
        Transition::StartWork,
        Transition::Answer { response_id: "01RESP".into() },
        Transition::Reject,
        Transition::Transfer { to: "cbp".into() },
        Transition::Close,
        Transition::Reopen { due_at: now() + Duration::from_secs(7200) },
        Transition::Expire,
    ]
}

/// The whole table: (transition, from status) -> next status, or refused by the status rule.
fn expected(transition: &Transition, from: Status) -> Option<Status> {
    use Status::*;
    let waiting = matches!(from, Open | Transferred | Acknowledged | InWork);
    match transition {
        Transition::Acknowledge => matches!(from, Open | Transferred).then_some(Acknowledged),
        Transition::StartWork => (from == Acknowledged).then_some(InWork),
        Transition::Answer { .. } => waiting.then_some(Answered),
        Transition::Reject => waiting.then_some(Rejected),
        Transition::Transfer { .. } => waiting.then_some(Transferred),
        Transition::Close => (from != Closed).then_some(Closed),
        Transition::Reopen { .. } => matches!(from, Answered | Rejected | Expired).then_some(Open),
        Transition::Expire => waiting.then_some(Expired),
    }
}

#[test]
fn every_transition_from_every_status_goes_where_the_table_says_or_is_refused_naming_the_status() {
    let late = now() + Duration::from_secs(601);
    let mut allowed = 0;
    for transition in transitions() {
        for from in Status::ALL {
            let result = record(from).apply(&transition, usual_actor(&transition), "why", late);
            match (expected(&transition, from), result) {
                (Some(next), Ok(after)) => {
                    allowed += 1;
                    assert_eq!(after.status, next, "{} from {}", transition.name(), from.name());
                    let step = after.steps.last().unwrap();
                    assert_eq!((step.transition.as_str(), step.status, step.at), (transition.name(), next, late));
                    assert_eq!(step.reason, "why");
                }
                (None, Err(refused)) => {
                    assert_eq!(refused.rule, rules::STATUS, "{} from {}: {refused}", transition.name(), from.name());
                    assert!(refused.why.contains(&format!("is {}", from.name())), "{refused}");
                }
                (expected, result) => {
                    panic!("{} from {}: expected {expected:?}, got {result:?}", transition.name(), from.name())
                }
            }
        }
    }
    // 2 + 1 + 4 + 4 + 4 + 7 + 3 + 4: the table above is not vacuous.
    assert_eq!(allowed, 29);
}

#[test]
fn the_life_of_an_rfi_records_times_answer_and_transfer() {
    let at = |seconds| now() + Duration::from_secs(seconds);
    let open = record(Status::Open);
    assert_eq!(open.steps.len(), 1);
    let acked = open.apply(&Transition::Acknowledge, caller(ACTION, Role::Analyst), "", at(5)).unwrap();
    assert_eq!(acked.acknowledged_at, Some(at(5)));
    let moved = acked
        .apply(&Transition::Transfer { to: "cbp".into() }, caller(ACTION, Role::LiaisonOfficer), "theirs", at(9))
        .unwrap();
    assert_eq!((moved.action_party.as_str(), moved.status, moved.assigned_at), ("cbp", Status::Transferred, at(9)));
    assert_eq!(moved.acknowledged_at, None, "the new action party has not acknowledged it");
    assert_eq!(moved.steps.last().unwrap().action_party, "cbp");
    let refused = moved.apply(&Transition::Acknowledge, caller(ACTION, Role::Analyst), "", at(10)).unwrap_err();
    assert_eq!(refused.rule, rules::ACTION_PARTY, "ia no longer acts on it");
    let acked = moved.apply(&Transition::Acknowledge, caller("cbp", Role::AgencySystem), "", at(10)).unwrap();
    let working = acked.apply(&Transition::StartWork, caller("cbp", Role::Analyst), "", at(11)).unwrap();
    let answer = Transition::Answer { response_id: "01RESP".into() };
    let answered = working.apply(&answer, caller("cbp", Role::AgencySystem), "", at(12)).unwrap();
    assert_eq!((answered.response_id.as_str(), answered.answered_at), ("01RESP", Some(at(12))));
    let reopen = Transition::Reopen { due_at: at(5000) };
    let reopened = answered.apply(&reopen, caller(REQUESTER, Role::Analyst), "not enough", at(20)).unwrap();
    assert_eq!((reopened.status, reopened.due_at, reopened.assigned_at), (Status::Open, at(5000), at(20)));
    assert_eq!(reopened.answered_at, None);
    let closed = reopened.apply(&Transition::Close, caller(REQUESTER, Role::AgencySystem), "", at(30)).unwrap();
    assert_eq!((closed.status, closed.closed_at), (Status::Closed, Some(at(30))));
    assert_eq!(closed.steps.len(), 8);
}

#[test]
fn only_the_action_party_acts_and_only_the_requester_closes_or_reopens() {
    let open = record(Status::Open);
    for transition in [
        Transition::Acknowledge,
        Transition::Answer { response_id: "x".into() },
        Transition::Reject,
        Transition::Transfer { to: "cbp".into() },
    ] {
        let refused = open.apply(&transition, caller(REQUESTER, Role::LiaisonOfficer), "", now()).unwrap_err();
        assert_eq!(refused.rule, rules::ACTION_PARTY, "{}", transition.name());
        assert!(
            refused.why.contains("only the action party ia") && refused.why.contains("not nyc-fusion"),
            "{refused}"
        );
    }
    let working = record(Status::InWork);
    let refused = working.apply(&Transition::StartWork, caller("cbp", Role::Analyst), "", now()).unwrap_err();
    assert_eq!(refused.rule, rules::ACTION_PARTY);
    let answered = record(Status::Answered);
    for transition in [Transition::Close, Transition::Reopen { due_at: now() + Duration::from_secs(60) }] {
        let refused = answered.apply(&transition, caller(ACTION, Role::Analyst), "", now()).unwrap_err();
        assert_eq!(refused.rule, rules::REQUESTER, "{}", transition.name());
        assert!(refused.why.contains("only the requester nyc-fusion") && refused.why.contains("not ia"), "{refused}");
    }
}

#[test]
fn a_transfer_needs_a_liaison_officer_and_another_party() {
    let open = record(Status::Acknowledged);
    let to_cbp = Transition::Transfer { to: "cbp".into() };
    for role in [Role::AgencySystem, Role::Analyst, Role::Operator, Role::Admin, Role::DisclosureOfficer] {
        let refused = open.apply(&to_cbp, caller(ACTION, role), "", now()).unwrap_err();
        assert_eq!(refused.rule, rules::LIAISON_OFFICER, "{role:?}");
        assert!(refused.why.contains(role.name()), "{refused}");
    }
    for to in [ACTION, REQUESTER] {
        let transfer = Transition::Transfer { to: to.into() };
        let refused = open.apply(&transfer, caller(ACTION, Role::LiaisonOfficer), "", now()).unwrap_err();
        assert_eq!(refused.rule, rules::TRANSFER_TARGET, "{to}");
    }
}

#[test]
fn only_the_gateway_expires_and_only_past_due() {
    let open = record(Status::Open);
    let refused = open.apply(&Transition::Expire, Actor::Gateway, "", now()).unwrap_err();
    assert_eq!(refused.rule, rules::EXPIRY, "not due yet: {refused}");
    assert!(!open.overdue(now() + Duration::from_secs(599)));
    assert!(open.overdue(now() + Duration::from_secs(600)));
    let expired = open.apply(&Transition::Expire, Actor::Gateway, "", now() + Duration::from_secs(600)).unwrap();
    assert_eq!(expired.steps.last().unwrap().party, "gateway");
    assert!(expired.overdue(now()), "an expired RFI stays overdue");
    let refused = open.apply(&Transition::Expire, caller(ACTION, Role::Admin), "", now() + Duration::from_secs(900));
    assert_eq!(refused.unwrap_err().rule, rules::EXPIRY);
    let refused = open.apply(&Transition::Acknowledge, Actor::Gateway, "", now()).unwrap_err();
    assert_eq!(refused.rule, rules::EXPIRY, "the gateway makes no other transition");
    assert!(!record(Status::Answered).overdue(now() + Duration::from_secs(9999)), "answered in time or not");
}

#[test]
fn a_record_stops_at_its_step_limit() {
    let mut rfi = record(Status::Answered);
    while rfi.steps.len() < MAX_STEPS {
        rfi.steps.push(rfi.steps[0].clone());
    }
    let reopen = Transition::Reopen { due_at: now() + Duration::from_secs(60) };
    let refused = rfi.apply(&reopen, caller(REQUESTER, Role::Analyst), "", now()).unwrap_err();
    assert_eq!(refused.rule, rules::STEPS);
}

#[test]
fn a_record_round_trips_as_json() {
    let rfi = record(Status::Open)
        .apply(&Transition::Acknowledge, caller(ACTION, Role::Analyst), "", now() + Duration::from_secs(1))
        .unwrap();
    let json = serde_json::to_string(&rfi).unwrap();
    assert!(json.contains("\"status\":\"acknowledged\""), "{json}");
    assert_eq!(serde_json::from_str::<RfiRecord>(&json).unwrap(), rfi);
}
