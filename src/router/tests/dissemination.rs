//! Who a dissemination reaches beyond the marking checks: ORCON and ORCON-USGOV (the originator's choice,
//! later approvals) and the REL TO entry an approval names.

use super::*;

#[test]
fn orcon_goes_only_where_its_originator_sends_it() {
    check("cbp", &["ia"], "border-security", "S//OC", &["ia"]);
    let router = Router::embedded_default().unwrap();
    // Selected by policy, not by the originator: denied ORCON where no holder check denies it first.
    let by_policy = summary(&router.route(&request("ia", &[], "border-security", "S//OC")).unwrap());
    assert_eq!(by_policy, ["cbp:ORCON", "hsi-jioc:ORCON", "fc-tx:ORCON", "can:NOT_RELEASABLE", "mex:CLASSIFICATION"]);
    // Through a relay the originator did not name; naming it sends it there too.
    check("cbp", &["ice"], "narcotics", "S//OC", &["ice:ORCON"]);
    check("cbp", &["ice"], "narcotics", "S", &["ice:RELAY_REQUIRED"]);
    check("cbp", &["ice", "ia"], "narcotics", "S//OC", &["ice", "ia"]);
    // A later dissemination (a redrive): only a party the originator approved.
    let redrive = request("cbp", &["ia"], "border-security", "S//OC");
    assert_eq!(summary(&router.route_later(&redrive, &[]).unwrap()), ["ia:ORCON"]);
    assert_eq!(summary(&router.route_later(&redrive, &[party("ia")]).unwrap()), ["ia"]);
    let plain = request("cbp", &["ia"], "border-security", "S");
    assert_eq!(summary(&router.route_later(&plain, &[]).unwrap()), ["ia"], "only ORCON asks");
    // A correction reaching earlier recipients: each needs the originator's approval.
    let correction = request("ia", &["cbp"], "border-security", "S//OC");
    let earlier = [party("cbp"), party("ice"), party("fbi")];
    let routed = router.route_correction(&correction, &earlier, &[party("fbi")]).unwrap();
    assert_eq!(summary(&routed), ["cbp", "ice:ORCON", "fbi"]);
    let Outcome::Deny(denial) = &routed.outcomes[1] else { unreachable!() };
    assert_eq!(
        denial.explanation,
        "ORCON: the originator did not send the message to ice; the originator ia may approve it (liaison orcon approve)"
    );
}

#[test]
fn orcon_usgov_is_pre_approved_for_the_executive_branch() {
    let router = Router::embedded_default().unwrap();
    let routing = router.route(&request("ia", &[], "border-security", "S//OC-USGOV")).unwrap();
    let outcomes = summary(&routing);
    assert!(outcomes.contains(&"cbp".to_string()), "{outcomes:?}");
    assert!(outcomes.contains(&"fc-tx:ORCON".to_string()), "a state fusion center: {outcomes:?}");
    // Named by the originator, it goes anywhere the other markings allow.
    check("ia", &["fc-tx"], "border-security", "S//OC-USGOV", &["fc-tx"]);
}

#[test]
fn a_foreign_recipients_approval_names_the_rel_to_entry_that_released_it() {
    let router = Router::embedded_default().unwrap();
    let routing = router.route(&request("ia", &["can", "gbr"], "counter-terrorism", "S//REL USA GBR FVEY")).unwrap();
    let released: Vec<Option<&str>> = routing
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Deliver(approval) => approval.released_by(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(released, [Some("FVEY"), Some("GBR")]);
    let domestic = router.route(&request("cbp", &["ia"], "border-security", "S")).unwrap();
    assert!(matches!(&domestic.outcomes[0], Outcome::Deliver(approval) if approval.released_by().is_none()));
}
