//! The policy diff over the shipped files and edited copies of them.

use super::*;
use crate::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY};

fn compile(directory: &str, policy: &str) -> Router {
    Router::load(("d", directory), ("p", policy)).unwrap()
}

fn run(directory: &str, policy: &str) -> PolicyDiff {
    let (old, new) = (compile(DEFAULT_DIRECTORY, DEFAULT_POLICY), compile(directory, policy));
    let old = Side { directory: DEFAULT_DIRECTORY, policy: DEFAULT_POLICY, router: &old };
    diff(&old, &Side { directory, policy, router: &new })
}

const CBP_TO_FBI: &str = r#"
[[rule]]
name = "cbp-to-fbi"
basis = "test"
from = ["cbp"]
to = ["fbi"]
"#;

#[test]
fn identical_policies_have_no_differences() {
    let nothing = run(DEFAULT_DIRECTORY, DEFAULT_POLICY);
    assert!(nothing.is_empty());
    assert_eq!(nothing.to_string(), "no differences\n");
}

#[test]
fn an_added_rule_and_the_edges_it_newly_covers() {
    let policy = format!("{DEFAULT_POLICY}{CBP_TO_FBI}");
    let diff = run(DEFAULT_DIRECTORY, &policy);
    assert_eq!(diff.rules, vec![Change::Added("cbp-to-fbi".into())]);
    assert_eq!(
        diff.to_string(),
        "rules:\n  + rule cbp-to-fbi\nedges:\n  + cbp -> fbi: gains cbp-to-fbi (newly covered)\n"
    );
}

#[test]
fn a_removed_rule_loses_its_edges_and_a_changed_one_shows_its_fields() {
    let policy = DEFAULT_POLICY
        .replace("name = \"hsi-units-to-ice\"", "name = \"hsi-units-to-ice-old\"\nmax-classification = \"secret\"")
        .replace(
            "[[rule]]\nname = \"ice-to-hsi-units\"\nbasis = \"ICE tasks and informs its HSI Intelligence units\"\nfrom = [\"ice\"]\nto = [\"kind:hsi-unit\"]\n",
            "",
        )
        .replace("to = [\"cbp\", \"ice\"]\ntopics", "to = [\"cbp\", \"ice\"]\nkinds = [\"report\"]\ntopics");
    let diff = run(DEFAULT_DIRECTORY, &policy);
    let names: Vec<String> = diff.rules.iter().map(|change| format!("{change:?}")).collect();
    assert_eq!(diff.rules.len(), 4, "{names:?}");
    assert_eq!(
        diff.rules[0],
        Change::Changed("border-crime-relay-cbp-ice".into(), vec![("kinds".into(), None, Some("[\"report\"]".into()))])
    );
    assert_eq!(diff.rules[1], Change::Removed("hsi-units-to-ice".into()));
    assert_eq!(diff.rules[2], Change::Added("hsi-units-to-ice-old".into()));
    assert_eq!(diff.rules[3], Change::Removed("ice-to-hsi-units".into()));
    let lost: Vec<String> = diff.edges.iter().filter(|edge| !edge.after).map(|edge| edge.recipient.clone()).collect();
    assert_eq!(lost, ["hsi-iiu", "hsi-jioc", "hsi-nsps", "hsi-tfcu", "hsi-tlu"]);
    let renamed = diff.edges.iter().find(|edge| edge.origin == "hsi-tfcu" && edge.recipient == "ice").unwrap();
    assert_eq!(
        (renamed.gained.as_slice(), renamed.lost.as_slice()),
        (&["hsi-units-to-ice-old".to_string()][..], &["hsi-units-to-ice".to_string()][..])
    );
    assert!(diff.to_string().contains("  ~ hsi-tfcu -> ice: gains hsi-units-to-ice-old; loses hsi-units-to-ice\n"));
    assert!(diff.to_string().contains("  - ice -> hsi-tlu: loses ice-to-hsi-units (no longer covered)\n"));
}

#[test]
fn directory_entries_and_tetragraphs_added_removed_and_changed() {
    let directory = DEFAULT_DIRECTORY
        .replace("id = \"fema\"\nname = \"Federal Emergency Management Agency\"\nkind = \"dhs-component\"\nnationality = \"USA\"\nclearance = \"secret\"",
                 "id = \"fema\"\nname = \"Federal Emergency Management Agency\"\nkind = \"dhs-component\"\nnationality = \"USA\"\nclearance = \"top-secret\"")
        .replace("[tetragraphs]\n", "[tetragraphs]\nACME = [\"USA\", \"GBR\"]\n")
        + "\n[[party]]\nid = \"aus\"\nname = \"Australia\"\nkind = \"foreign-partner\"\nnationality = \"AUS\"\nclearance = \"secret\"\ntopics = [\"*\"]\n";
    let diff = run(&directory, DEFAULT_POLICY);
    assert_eq!(diff.rules, vec![]);
    assert_eq!(
        diff.parties,
        vec![
            Change::Added("aus".into()),
            Change::Changed(
                "fema".into(),
                vec![("clearance".into(), Some("\"secret\"".into()), Some("\"top-secret\"".into()))]
            ),
        ]
    );
    assert_eq!(diff.tetragraphs, vec![Change::Added("ACME".into())]);
    // The new partner falls under the foreign-partner rules both ways.
    let edges: Vec<String> = diff.edges.iter().map(|edge| format!("{} -> {}", edge.origin, edge.recipient)).collect();
    assert_eq!(edges, ["aus -> ia", "ia -> aus"]);
}
