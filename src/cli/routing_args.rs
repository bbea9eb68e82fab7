//! The message metadata flags shared by `liaison publish` and `liaison route check`: recipients, kind,
//! topic, markings and precedence.

use crate::api as pb;
use crate::model::Kind;

/// Who a message is for and how it is marked.
#[derive(Debug, Clone, clap::Args)]
pub struct RoutingArgs {
    /// Recipient party; repeat for several. None routes by policy.
    #[arg(long = "to")]
    pub recipients: Vec<String>,
    /// Message kind: report, alert, tip, rfi, rfi-response, product.
    #[arg(long, default_value = "report", value_parser = parse_kind)]
    pub kind: Kind,
    /// Program area, e.g. `money-laundering`.
    #[arg(long)]
    pub topic: String,
    #[arg(long, value_enum, default_value = "unclassified")]
    classification: ClassificationArg,
    /// Dissemination control; repeat for several.
    #[arg(long = "control", value_enum)]
    controls: Vec<ControlArg>,
    /// REL TO country trigraph; repeat for several, USA first.
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    #[arg(long, value_enum)]
    tlp: Option<TlpArg>,
    #[arg(long, value_enum, default_value = "routine")]
    precedence: PrecedenceArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ClassificationArg {
    Unclassified,
    Confidential,
    Secret,
    TopSecret,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ControlArg {
    Noforn,
    Les,
    Fouo,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TlpArg {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PrecedenceArg {
    Routine,
    Priority,
    Immediate,
    Flash,
}

pub fn parse_kind(value: &str) -> Result<Kind, String> {
    Kind::from_token(value).ok_or_else(|| "one of report, alert, tip, rfi, rfi-response, product".to_string())
}

impl RoutingArgs {
    pub fn kind(&self) -> i32 {
        pb::Kind::from(self.kind) as i32
    }

    pub fn markings(&self) -> pb::Markings {
        let classification = match self.classification {
            ClassificationArg::Unclassified => pb::Classification::Unclassified,
            ClassificationArg::Confidential => pb::Classification::Confidential,
            ClassificationArg::Secret => pb::Classification::Secret,
            ClassificationArg::TopSecret => pb::Classification::TopSecret,
        };
        let controls = self
            .controls
            .iter()
            .map(|control| match control {
                ControlArg::Noforn => pb::DisseminationControl::Noforn as i32,
                ControlArg::Les => pb::DisseminationControl::Les as i32,
                ControlArg::Fouo => pb::DisseminationControl::Fouo as i32,
            })
            .collect();
        let tlp = match self.tlp {
            None => pb::Tlp::Unspecified,
            Some(TlpArg::Clear) => pb::Tlp::Clear,
            Some(TlpArg::Green) => pb::Tlp::Green,
            Some(TlpArg::Amber) => pb::Tlp::Amber,
            Some(TlpArg::AmberStrict) => pb::Tlp::AmberStrict,
            Some(TlpArg::Red) => pb::Tlp::Red,
        };
        pb::Markings { classification: classification as i32, controls, rel_to: self.rel_to.clone(), tlp: tlp as i32 }
    }

    pub fn precedence(&self) -> i32 {
        let precedence = match self.precedence {
            PrecedenceArg::Routine => pb::Precedence::Routine,
            PrecedenceArg::Priority => pb::Precedence::Priority,
            PrecedenceArg::Immediate => pb::Precedence::Immediate,
            PrecedenceArg::Flash => pb::Precedence::Flash,
        };
        precedence as i32
    }
}
