//! Unit tests of the authorization table: rows written out independently of `TABLE`, the attacks,
//! and properties every row must keep.

use super::*;

use Role::{Admin, AgencySystem, Analyst, DisclosureOfficer, LiaisonOfficer, Monitor, Operator};

const ROLES: [Role; 7] = [AgencySystem, Analyst, Operator, Admin, DisclosureOfficer, LiaisonOfficer, Monitor];
const SCOPES: [Scope; 3] = [Scope::Own, Scope::Other, Scope::All];

/// One expected verdict; `None` is a refusal.
fn check(role: Role, oversight: bool, action: Action, scope: Scope, expected: Option<View>) {
    let got = authorize(role, oversight, action, scope);
    assert_eq!(got.as_ref().ok().copied(), expected, "{role:?} oversight={oversight} {action:?} {scope:?}: {got:?}");
}

#[test]
fn every_rpc_has_exactly_one_row_in_proto_order() {
    let actions: Vec<Action> = TABLE.iter().map(|rule| rule.action).collect();
    assert_eq!(actions, Action::ALL);
}

#[test]
fn a_foreign_admin_cannot_apply_or_roll_back_the_shared_policy() {
    for action in [Action::ApplyPolicy, Action::RollbackPolicy] {
        check(Admin, false, action, Scope::All, None);
        check(Operator, true, action, Scope::All, None);
        check(Admin, true, action, Scope::All, Some(View::Full));
    }
    check(Operator, false, Action::ListPolicyHistory, Scope::All, Some(View::Full));
    check(Analyst, true, Action::ListPolicyHistory, Scope::All, None);
}

#[test]
fn only_oversight_purges_or_revalidates_another_partys_message() {
    check(Operator, false, Action::PurgeMessage, Scope::Other, None);
    check(Admin, false, Action::PurgeMessage, Scope::Other, None);
    check(Operator, true, Action::PurgeMessage, Scope::Other, Some(View::Full));
    check(Operator, false, Action::PurgeMessage, Scope::Own, Some(View::Full));
    check(Analyst, true, Action::PurgeMessage, Scope::Own, None);
    check(Analyst, false, Action::Revalidate, Scope::Own, Some(View::Full));
    check(Operator, true, Action::Revalidate, Scope::Own, None);
    check(Operator, true, Action::Revalidate, Scope::Other, None);
    check(Admin, true, Action::Revalidate, Scope::Other, Some(View::Full));
    check(Admin, false, Action::Revalidate, Scope::Other, None);
}

#[test]
fn listings_of_all_parties_narrow_to_the_own_party_without_oversight_and_naming_another_is_refused() {
    for action in [Action::ListDeadLetters, Action::WatchTraffic, Action::ListSubjects, Action::ListDenialCounts] {
        check(Operator, false, action, Scope::All, Some(View::OwnParty));
        check(Admin, true, action, Scope::All, Some(View::Full));
        check(Analyst, true, action, Scope::All, None);
    }
    for action in [Action::ListDeadLetters, Action::WatchTraffic, Action::ListSubjects, Action::ListReviewDue] {
        check(Operator, false, action, Scope::Other, None);
        check(Operator, true, action, Scope::Other, Some(View::Full));
        check(Operator, false, action, Scope::Own, Some(View::Full));
    }
    check(Analyst, false, Action::ListReviewDue, Scope::All, Some(View::OwnParty));
    check(Analyst, false, Action::ListReviewDue, Scope::Other, None);
}

#[test]
fn review_lists_are_for_people_not_for_a_partys_systems() {
    for oversight in [false, true] {
        for scope in SCOPES {
            check(AgencySystem, oversight, Action::ListReviewDue, scope, None);
        }
        check(Analyst, oversight, Action::ListReviewDue, Scope::Own, Some(View::Full));
        check(Operator, oversight, Action::ListReviewDue, Scope::Own, Some(View::Full));
    }
}

#[test]
fn the_audit_shows_everything_to_oversight_and_the_own_partys_messages_to_everyone_else() {
    for scope in SCOPES {
        for role in ROLES.into_iter().filter(|role| *role != Monitor) {
            check(role, false, Action::QueryAudit, scope, Some(View::OwnParty));
        }
        check(Monitor, true, Action::QueryAudit, scope, None);
        check(Operator, true, Action::QueryAudit, scope, Some(View::Full));
        check(Analyst, true, Action::QueryAudit, scope, Some(View::OwnParty));
    }
}

#[test]
fn a_simulation_replays_everything_for_oversight_operators_and_the_own_partys_decisions_for_others() {
    for oversight in [false, true] {
        for scope in SCOPES {
            check(AgencySystem, oversight, Action::SimulatePolicy, scope, None);
            check(Analyst, oversight, Action::SimulatePolicy, scope, None);
        }
        check(Operator, oversight, Action::SimulatePolicy, Scope::Own, Some(View::Full));
    }
    check(Operator, false, Action::SimulatePolicy, Scope::All, Some(View::OwnParty));
    check(Admin, false, Action::SimulatePolicy, Scope::Other, None);
    check(Operator, true, Action::SimulatePolicy, Scope::All, Some(View::Full));
    check(Admin, true, Action::SimulatePolicy, Scope::Other, Some(View::Full));
    let refusal = authorize(Operator, false, Action::SimulatePolicy, Scope::Other).unwrap_err();
    assert!(refusal.to_string().contains("simulate a policy over recorded traffic for another party (SimulatePolicy)"));
}

#[test]
fn redrive_stays_with_the_recipients_admin_or_an_oversight_admin() {
    check(Admin, false, Action::RedriveDeadLetters, Scope::Own, Some(View::Full));
    check(Operator, true, Action::RedriveDeadLetters, Scope::Own, None);
    check(Admin, false, Action::RedriveDeadLetters, Scope::Other, None);
    check(Admin, true, Action::RedriveDeadLetters, Scope::Other, Some(View::Full));
    check(Admin, true, Action::RedriveDeadLetters, Scope::All, None);
}

#[test]
fn feeds_and_publishing_are_the_own_partys_whatever_the_oversight() {
    for oversight in [false, true] {
        for action in [Action::Publish, Action::PublishStream] {
            check(AgencySystem, oversight, action, Scope::Own, Some(View::Full));
            check(Analyst, oversight, action, Scope::Own, None);
            check(AgencySystem, oversight, action, Scope::Other, None);
        }
        for action in [Action::Subscribe, Action::Seek] {
            check(Analyst, oversight, action, Scope::Own, Some(View::Full));
            check(Operator, oversight, action, Scope::Own, None);
            check(Analyst, oversight, action, Scope::Other, None);
        }
    }
    check(Operator, false, Action::CheckRoute, Scope::Own, Some(View::Full));
    check(Operator, false, Action::CheckRoute, Scope::Other, None);
    check(Operator, true, Action::CheckRoute, Scope::Other, Some(View::Full));
}

#[test]
fn without_oversight_no_caller_ever_sees_all_of_another_partys_data() {
    for action in Action::ALL {
        for role in ROLES {
            let other = authorize(role, false, action, Scope::Other);
            assert!(!matches!(other, Ok(View::Full)), "{role:?} {action:?} reaches another party");
            // Shared state every operator may read: the policy's revision history (metadata).
            if action != Action::ListPolicyHistory {
                let all = authorize(role, false, action, Scope::All);
                assert!(!matches!(all, Ok(View::Full)), "{role:?} {action:?} reaches all parties");
            }
        }
    }
}

#[test]
fn oversight_never_takes_a_power_away() {
    for action in Action::ALL {
        for role in ROLES {
            for scope in SCOPES {
                let without = authorize(role, false, action, scope).ok();
                let with = authorize(role, true, action, scope).ok();
                let rank = |view: Option<View>| match view {
                    None => 0,
                    Some(View::OwnParty) => 1,
                    Some(View::Full) => 2,
                };
                assert!(rank(with) >= rank(without), "{role:?} {action:?} {scope:?}");
            }
        }
    }
}

#[test]
fn a_refusal_names_the_rpc_the_scope_and_who_may() {
    let refusal = authorize(Operator, false, Action::PurgeMessage, Scope::Other).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "role operator may not purge messages for another party (PurgeMessage): that needs operator or admin of \
         an oversight party (README, Authorization); the caller's party has no oversight"
    );
    let refusal = authorize(Analyst, false, Action::ApplyPolicy, Scope::Own).unwrap_err();
    assert!(
        refusal.to_string().contains("apply the policy for its own party (ApplyPolicy): that needs nobody"),
        "{refusal}"
    );
}

#[test]
fn some_scope_is_enough_to_get_past_the_first_check() {
    assert!(authorize_some(Operator, false, Action::PurgeMessage).is_ok());
    assert!(authorize_some(Analyst, true, Action::PurgeMessage).is_err());
    assert!(authorize_some(Admin, true, Action::Revalidate).is_ok());
    assert!(authorize_some(Operator, true, Action::Revalidate).is_err());
}

#[test]
fn rfis_are_worked_by_their_parties_and_transferred_only_by_a_liaison_officer() {
    for role in [AgencySystem, Analyst, LiaisonOfficer] {
        check(role, false, Action::UpdateRfi, Scope::Own, Some(View::Full));
        check(role, true, Action::UpdateRfi, Scope::Other, None);
    }
    for role in [Operator, Admin, DisclosureOfficer] {
        check(role, true, Action::UpdateRfi, Scope::Own, None);
    }
    check(LiaisonOfficer, false, Action::TransferRfi, Scope::Own, Some(View::Full));
    check(LiaisonOfficer, true, Action::TransferRfi, Scope::Other, None);
    for role in [AgencySystem, Analyst, Operator, Admin, DisclosureOfficer] {
        check(role, true, Action::TransferRfi, Scope::Own, None);
    }
    for action in [Action::ListRfis, Action::GetRfi] {
        check(Analyst, false, action, Scope::Own, Some(View::Full));
        check(DisclosureOfficer, false, action, Scope::Own, None);
        check(Analyst, true, action, Scope::Other, None);
        check(Operator, false, action, Scope::Other, None);
        check(Operator, true, action, Scope::Other, Some(View::Full));
    }
}

#[test]
fn metrics_are_scraped_whole_by_oversight_and_as_the_own_partys_series_by_others() {
    for role in [Monitor, Operator, Admin] {
        check(role, false, Action::ScrapeMetrics, Scope::All, Some(View::OwnParty));
        check(role, true, Action::ScrapeMetrics, Scope::All, Some(View::Full));
    }
    for role in [AgencySystem, Analyst, DisclosureOfficer, LiaisonOfficer] {
        for oversight in [false, true] {
            check(role, oversight, Action::ScrapeMetrics, Scope::All, None);
        }
    }
}

#[test]
fn a_monitoring_systems_token_does_nothing_but_scrape_metrics() {
    for action in Action::ALL.into_iter().filter(|action| *action != Action::ScrapeMetrics) {
        for oversight in [false, true] {
            for scope in SCOPES {
                check(Monitor, oversight, action, scope, None);
            }
        }
    }
}

#[test]
fn a_scope_is_own_other_or_all_by_the_party_named() {
    assert_eq!(scope_of("cbp", Some("cbp")), Scope::Own);
    assert_eq!(scope_of("cbp", Some("ia")), Scope::Other);
    assert_eq!(scope_of("cbp", None), Scope::All);
}

#[test]
fn readme_shows_the_table_as_the_code_has_it() {
    let readme = include_str!("../../../README.md");
    let table = markdown_table();
    assert_eq!(table.lines().count(), 2 + TABLE.len());
    assert!(readme.contains(&table), "README's Authorization table differs from the code's; paste:\n{table}");
}
