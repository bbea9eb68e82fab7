//! Checking a change of policy before it is applied, offline and pure: a policy's test cases run through a
//! router (`cases`), a comparison of two policies (`diff`), and the re-decision of recorded decisions under
//! a draft (`replay`). The CLI and the gateway only read files or the audit and hand the results on.

pub mod cases;
pub mod diff;
pub mod replay;
