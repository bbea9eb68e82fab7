//! Publish validation from arbitrary protobuf bytes: `grpc/convert.rs` as the Publish handler runs it
//! (envelope, markings, expiry, labels), then the router's decision on whatever it accepts.
//!
//! Input: one byte choosing the caller's party (one not in the directory included), then an `Envelope`.
#![no_main]

use liaison::api as pb;
use liaison::grpc::{Limits, fuzzing};
use liaison::identity::Role;
use liaison_fuzz::{assert_client_error, caller, check_routing, router};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let Some((&who, bytes)) = data.split_first() else { return };
    let Ok(mut envelope) = pb::Envelope::decode(bytes) else { return };
    let router = router();
    let parties = router.directory().parties();
    let party = parties.get(usize::from(who) % (parties.len() + 1)).map_or("not-in-directory", |p| p.id.as_str());
    let caller = caller(party, Role::AgencySystem);
    // What the delivery side does with a stored envelope, at the ends of time too.
    for now in [OffsetDateTime::now_utc(), OffsetDateTime::UNIX_EPOCH, liaison_fuzz::last_time()] {
        let _ = fuzzing::expires_in(&envelope, now);
        let _ = fuzzing::expired(&envelope, now);
    }
    let _ = fuzzing::flow_labels(&caller.party, &envelope);
    match fuzzing::route_request(&caller, &mut envelope, &Limits::default()) {
        Err(error) => assert_client_error(&error),
        Ok(request) => {
            assert_eq!(request.markings.validate(), Ok(()), "accepted markings break a combination rule");
            assert_eq!(fuzzing::markings(envelope.markings.as_ref()).ok().as_ref(), Some(&request.markings));
            if let Err(error) = fuzzing::expires_in(&envelope, OffsetDateTime::now_utc()) {
                assert_client_error(&error);
            }
            let earlier: Vec<_> = parties.iter().step_by(7).map(|party| party.id.clone()).collect();
            check_routing(router, &request, &earlier);
        }
    }
});
