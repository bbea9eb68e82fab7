//! `liaison policy diff`: what changes between two policies — rules and directory entries added, removed
//! and changed (field by field), and the edges (origin -> recipient party) that gain or lose a covering
//! rule. Pure: it compares the texts and the two compiled routers.

use std::collections::BTreeMap;
use std::fmt;

use crate::router::Router;

/// One side of the comparison: the texts and the router compiled from them.
pub struct Side<'a> {
    pub directory: &'a str,
    pub policy: &'a str,
    pub router: &'a Router,
}

/// The differences, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDiff {
    pub rules: Vec<Change>,
    pub parties: Vec<Change>,
    /// Tetragraphs the directory adds, drops or redefines.
    pub tetragraphs: Vec<Change>,
    pub edges: Vec<EdgeChange>,
}

/// A rule, party or tetragraph added, removed, or changed in some fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Removed(String),
    /// The fields that differ: (field, old value, new value); `None` is absent.
    Changed(String, Vec<(String, Option<String>, Option<String>)>),
}

/// An edge whose covering rules differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeChange {
    pub origin: String,
    pub recipient: String,
    pub gained: Vec<String>,
    pub lost: Vec<String>,
    /// Covered by some rule before, and after.
    pub before: bool,
    pub after: bool,
}

/// Compares `old` with `new`. Texts that do not parse as TOML compare as empty (the routers compiled, so
/// they do).
pub fn diff(old: &Side<'_>, new: &Side<'_>) -> PolicyDiff {
    let (old_directory, new_directory) = (table(old.directory), table(new.directory));
    let tetragraphs = |directory: &toml::Table| match directory.get("tetragraphs") {
        Some(toml::Value::Table(entries)) => {
            entries.iter().map(|(code, members)| (code.clone(), one(members))).collect()
        }
        _ => BTreeMap::new(),
    };
    PolicyDiff {
        rules: changes(&entries(&table(old.policy), "rule", "name"), &entries(&table(new.policy), "rule", "name")),
        parties: changes(&entries(&old_directory, "party", "id"), &entries(&new_directory, "party", "id")),
        tetragraphs: changes(&tetragraphs(&old_directory), &tetragraphs(&new_directory)),
        edges: edges(old.router, new.router),
    }
}

fn table(text: &str) -> toml::Table {
    text.parse().unwrap_or_default()
}

/// The entries of the array of tables `array`, keyed by their field `key`.
fn entries(document: &toml::Table, array: &str, key: &str) -> BTreeMap<String, toml::Table> {
    let Some(toml::Value::Array(items)) = document.get(array) else { return BTreeMap::new() };
    let tables = items.iter().filter_map(toml::Value::as_table);
    tables.filter_map(|entry| Some((entry.get(key)?.as_str()?.to_string(), entry.clone()))).collect()
}

/// A value wrapped as a one-field table, so that tetragraphs compare like entries.
fn one(value: &toml::Value) -> toml::Table {
    toml::Table::from_iter([("members".to_string(), value.clone())])
}

fn changes(old: &BTreeMap<String, toml::Table>, new: &BTreeMap<String, toml::Table>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, before) in old {
        match new.get(name) {
            None => changes.push(Change::Removed(name.clone())),
            Some(after) if after != before => changes.push(Change::Changed(name.clone(), fields(before, after))),
            Some(_) => {}
        }
    }
    let added = new.keys().filter(|name| !old.contains_key(*name));
    changes.extend(added.map(|name| Change::Added(name.clone())));
    changes.sort_by(|a, b| a.name().cmp(b.name()));
    changes
}

fn fields(before: &toml::Table, after: &toml::Table) -> Vec<(String, Option<String>, Option<String>)> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |value: Option<&toml::Value>| value.map(|value| value.to_string());
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| (key.clone(), show(before.get(key)), show(after.get(key))))
        .collect()
}

/// The rules of `router` covering each edge, by party ids.
fn coverage(router: &Router) -> BTreeMap<(String, String), Vec<String>> {
    let parties = router.directory().parties();
    let mut covered: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (origin, from) in parties.iter().enumerate() {
        for &index in router.policy().rules_from(origin as u32) {
            let rule = router.policy().rule(index);
            for recipient in rule.to.ones().filter(|recipient| *recipient != origin) {
                let edge = (from.id.to_string(), parties[recipient].id.to_string());
                covered.entry(edge).or_default().push(rule.name.to_string());
            }
        }
    }
    covered
}

fn edges(old: &Router, new: &Router) -> Vec<EdgeChange> {
    let (before, after) = (coverage(old), coverage(new));
    let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = Vec::new();
    let mut changes = Vec::new();
    for edge in keys {
        let (old_rules, new_rules) = (before.get(edge).unwrap_or(&none), after.get(edge).unwrap_or(&none));
        let gained: Vec<String> = new_rules.iter().filter(|rule| !old_rules.contains(rule)).cloned().collect();
        let lost: Vec<String> = old_rules.iter().filter(|rule| !new_rules.contains(rule)).cloned().collect();
        if gained.is_empty() && lost.is_empty() {
            continue;
        }
        let (origin, recipient) = edge.clone();
        let (before, after) = (!old_rules.is_empty(), !new_rules.is_empty());
        changes.push(EdgeChange { origin, recipient, gained, lost, before, after });
    }
    changes
}

// === impl Change ===

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Added(name) | Change::Removed(name) | Change::Changed(name, _) => name,
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, what: &str) -> fmt::Result {
        match self {
            Change::Added(name) => writeln!(f, "  + {what} {name}"),
            Change::Removed(name) => writeln!(f, "  - {what} {name}"),
            Change::Changed(name, fields) => {
                writeln!(f, "  ~ {what} {name}")?;
                for (field, before, after) in fields {
                    let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "(absent)".into());
                    writeln!(f, "      {field}: {} -> {}", show(before), show(after))?;
                }
                Ok(())
            }
        }
    }
}

// === impl PolicyDiff ===

impl PolicyDiff {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.parties.is_empty() && self.tetragraphs.is_empty() && self.edges.is_empty()
    }
}

impl fmt::Display for PolicyDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no differences");
        }
        let sections = [("rules", "rule", &self.rules), ("directory", "party", &self.parties)];
        for (title, what, changes) in sections.into_iter().chain([("tetragraphs", "tetragraph", &self.tetragraphs)]) {
            if !changes.is_empty() {
                writeln!(f, "{title}:")?;
                changes.iter().try_for_each(|change| change.write(f, what))?;
            }
        }
        if !self.edges.is_empty() {
            writeln!(f, "edges:")?;
        }
        for edge in &self.edges {
            let mark = match (edge.before, edge.after) {
                (false, true) => "+",
                (true, false) => "-",
                _ => "~",
            };
            let mut parts = Vec::new();
            if !edge.gained.is_empty() {
                parts.push(format!("gains {}", edge.gained.join(", ")));
            }
            if !edge.lost.is_empty() {
                parts.push(format!("loses {}", edge.lost.join(", ")));
            }
            let state = match (edge.before, edge.after) {
                (false, true) => " (newly covered)",
                (true, false) => " (no longer covered)",
                _ => "",
            };
            writeln!(f, "  {mark} {} -> {}: {}{state}", edge.origin, edge.recipient, parts.join("; "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
