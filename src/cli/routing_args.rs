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
    /// The markings as a banner line, e.g. "SECRET//REL TO USA, FVEY" or "TOP SECRET//SI-G/TK//ORCON/NOFORN";
    /// instead of --classification, --control and --rel-to.
    #[arg(long, conflicts_with_all = ["classification", "controls", "rel_to"])]
    marking: Option<String>,
    #[arg(long, value_enum, default_value = "unclassified")]
    classification: ClassificationArg,
    /// Dissemination control; repeat for several.
    #[arg(long = "control", value_enum)]
    controls: Vec<ControlArg>,
    /// REL TO country trigraph or tetragraph (FVEY, NATO ...); repeat for several, USA first.
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
    Fouo,
    Orcon,
    OrconUsgov,
    Imcon,
    Noforn,
    Propin,
    Relido,
    Fisa,
    Limdis,
    Exdis,
    Nodis,
    Sbu,
    SbuNoforn,
    Les,
    LesNoforn,
    Ssi,
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
        let tlp = match self.tlp {
            None => pb::Tlp::Unspecified,
            Some(TlpArg::Clear) => pb::Tlp::Clear,
            Some(TlpArg::Green) => pb::Tlp::Green,
            Some(TlpArg::Amber) => pb::Tlp::Amber,
            Some(TlpArg::AmberStrict) => pb::Tlp::AmberStrict,
            Some(TlpArg::Red) => pb::Tlp::Red,
        };
        if let Some(banner) = &self.marking {
            return pb::Markings { banner: banner.clone(), tlp: tlp as i32, ..Default::default() };
        }
        let classification = match self.classification {
            ClassificationArg::Unclassified => pb::Classification::Unclassified,
            ClassificationArg::Confidential => pb::Classification::Confidential,
            ClassificationArg::Secret => pb::Classification::Secret,
            ClassificationArg::TopSecret => pb::Classification::TopSecret,
        };
        let controls = self
            .controls
            .iter()
            .map(|control| {
                use pb::DisseminationControl as P;
                let control = match control {
                    ControlArg::Fouo => P::Fouo,
                    ControlArg::Orcon => P::Orcon,
                    ControlArg::OrconUsgov => P::OrconUsgov,
                    ControlArg::Imcon => P::Imcon,
                    ControlArg::Noforn => P::Noforn,
                    ControlArg::Propin => P::Propin,
                    ControlArg::Relido => P::Relido,
                    ControlArg::Fisa => P::Fisa,
                    ControlArg::Limdis => P::Limdis,
                    ControlArg::Exdis => P::Exdis,
                    ControlArg::Nodis => P::Nodis,
                    ControlArg::Sbu => P::Sbu,
                    ControlArg::SbuNoforn => P::SbuNoforn,
                    ControlArg::Les => P::Les,
                    ControlArg::LesNoforn => P::LesNoforn,
                    ControlArg::Ssi => P::Ssi,
                };
                control as i32
            })
            .collect();
        pb::Markings {
            classification: classification as i32,
            controls,
            rel_to: self.rel_to.clone(),
            tlp: tlp as i32,
            ..Default::default()
        }
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
