//! The simulate report: changed decisions counted per edge (origin -> recipient), per change (before ->
//! after state) and per rule or reason before and after, with a few example message ids each. Memory is
//! bounded whatever the window: at most [`MAX_GROUPS`] groups (then further kinds of change are counted in
//! `overflow`), and at most `examples` ids per group.

use std::collections::BTreeMap;

use super::{Changed, Replayed, State};

/// Most distinct (edge, change, rule or reason before and after) groups kept.
pub const MAX_GROUPS: usize = 100_000;
/// Most example message ids kept per group.
pub const MAX_EXAMPLES: usize = 16;

/// What identifies one group of changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub origin: String,
    pub recipient: String,
    pub before: State,
    pub after: State,
    pub before_by: String,
    pub after_by: String,
}

/// The changes of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub count: u64,
    pub examples: Vec<String>,
}

/// Every change of a replay, aggregated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub groups: BTreeMap<GroupKey, Group>,
    pub decisions: u64,
    pub changed: u64,
    pub skipped: u64,
    /// Changes of groups past [`MAX_GROUPS`]: counted, not listed.
    pub overflow: u64,
    examples: usize,
}

impl Tally {
    /// A tally keeping up to `examples` ids per group (at most [`MAX_EXAMPLES`]).
    pub fn new(examples: usize) -> Tally {
        Tally { examples: examples.min(MAX_EXAMPLES), ..Tally::default() }
    }

    pub fn add(&mut self, replayed: Replayed) {
        self.decisions += replayed.decisions;
        self.skipped += replayed.skipped;
        for change in replayed.changed {
            self.change(change);
        }
    }

    fn change(&mut self, change: Changed) {
        self.changed += 1;
        let key = GroupKey {
            origin: change.origin,
            recipient: change.recipient,
            before: change.before,
            after: change.after,
            before_by: change.before_by,
            after_by: change.after_by,
        };
        let full = self.groups.len() >= MAX_GROUPS;
        let group = match self.groups.get_mut(&key) {
            Some(group) => group,
            None if full => {
                self.overflow += 1;
                return;
            }
            None => self.groups.entry(key).or_default(),
        };
        group.count += 1;
        if group.examples.len() < self.examples {
            group.examples.push(change.message_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(id: &str, recipient: &str, after: State) -> Changed {
        Changed {
            message_id: id.into(),
            origin: "cbp".into(),
            recipient: recipient.into(),
            before: State::Delivered,
            before_by: "rule-a".into(),
            after,
            after_by: "NO_ROUTE".into(),
        }
    }

    #[test]
    fn changes_are_counted_per_group_with_examples_capped() {
        let mut tally = Tally::new(2);
        let changes = ["m1", "m2", "m3"].map(|id| changed(id, "fbi", State::Denied)).to_vec();
        tally.add(Replayed { decisions: 10, skipped: 1, changed: changes });
        tally.add(Replayed { decisions: 5, skipped: 0, changed: vec![changed("m4", "ice", State::Denied)] });
        assert_eq!((tally.decisions, tally.changed, tally.skipped, tally.overflow), (15, 4, 1, 0));
        let groups: Vec<(&str, u64, Vec<String>)> = tally
            .groups
            .iter()
            .map(|(key, group)| (key.recipient.as_str(), group.count, group.examples.clone()))
            .collect();
        assert_eq!(groups, vec![("fbi", 3, vec!["m1".into(), "m2".into()]), ("ice", 1, vec!["m4".into()])]);
    }

    #[test]
    fn examples_are_capped_whatever_is_asked_for() {
        let mut tally = Tally::new(1_000);
        let changes = (0..100).map(|n| changed(&format!("m{n}"), "fbi", State::Denied)).collect();
        tally.add(Replayed { decisions: 100, skipped: 0, changed: changes });
        assert_eq!(tally.groups.values().next().unwrap().examples.len(), MAX_EXAMPLES);
    }

    #[test]
    fn groups_past_the_cap_are_counted_as_overflow() {
        let mut tally = Tally::new(0);
        let changes = (0..MAX_GROUPS + 5).map(|n| changed("m", &format!("p{n}"), State::Denied)).collect();
        tally.add(Replayed { decisions: 0, skipped: 0, changed: changes });
        assert_eq!((tally.groups.len(), tally.overflow), (MAX_GROUPS, 5));
    }
}
