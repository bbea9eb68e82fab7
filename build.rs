//! Generates the `liaison.v1` gRPC code with tonic-prost-build, using the vendored protoc so that building
//! needs no protoc on the machine, and the marking vocabularies from ODNI's ISM package: the REL TO
//! countries and the published SCI controls (`ism` crate), the tetragraphs with their members
//! (`ism-ismcat` crate).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("liaison_descriptor.bin"))
        .bytes(".liaison.v1.Envelope.body")
        .codec_path("crate::api::codec::SmallBufferCodec")
        // Written by hand (`src/api/delivery.rs`) so that a stored envelope is sent as its stored bytes.
        .extern_path(".liaison.v1.Delivery", "crate::api::Delivery")
        .compile_protos(
            &[
                "proto/liaison/v1/envelope.proto",
                "proto/liaison/v1/gateway.proto",
                "proto/liaison/v1/operator.proto",
                "proto/liaison/v1/rfi.proto",
            ],
            &["proto"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    compress_debug_sections();
    write_rel_to_countries(&out_dir)?;
    write_sci_controls(&out_dir)?;
    write_tetragraphs(&out_dir)?;
    Ok(())
}

/// Debug builds keep line tables for our own code; on Linux the linker stores them (and std's) zlib-compressed,
/// which the backtrace symboliser reads as well, so each test binary is about two fifths smaller.
fn compress_debug_sections() {
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let debug = std::env::var("DEBUG").is_ok_and(|debug| debug == "true");
    if linux && debug {
        println!("cargo:rustc-link-arg=-Wl,--compress-debug-sections=zlib");
    }
}

/// The country trigraphs of ISMCAT's REL TO vocabulary (`CVEnumISMCATRelTo`), sorted, as a Rust array.
fn write_rel_to_countries(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let vocabulary = ism::package_root().join("CVE/CveSchema/ISMCAT/CVEGenerated/CVEnumISMCATRelTo.rnc");
    let text = std::fs::read_to_string(&vocabulary)?;
    let mut codes: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('"')?.split('"').next())
        .filter(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    if codes.len() < 200 || codes.binary_search(&"USA").is_err() {
        return Err(
            format!("{}: expected the REL TO country list, found {} codes", vocabulary.display(), codes.len()).into()
        );
    }
    let list = codes.iter().map(|code| format!("{code:?}")).collect::<Vec<_>>().join(", ");
    let source = format!(
        "/// ISMCAT REL TO country trigraphs (ODNI ISM {}), sorted.\npub static COUNTRIES: [&str; {}] = [{list}];\n",
        ism::PACKAGE_NAME,
        codes.len()
    );
    std::fs::write(out_dir.join("rel_to_countries.rs"), source)?;
    Ok(())
}

/// The published SCI control systems and compartments (`CVEnumISMSCIControls`: `SI`, `SI-G`, ...), sorted.
fn write_sci_controls(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let vocabulary = ism::package_root().join("CVE/ISM/CVEnumISMSCIControls.csv");
    let text = std::fs::read_to_string(&vocabulary)?;
    let mut codes: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(1)?.strip_prefix('"')?.strip_suffix('"'))
        .filter(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'-'))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    if codes.binary_search(&"SI-G").is_err() || codes.binary_search(&"HCS").is_err() {
        return Err(format!("{}: expected the SCI controls, found {codes:?}", vocabulary.display()).into());
    }
    let list = codes.iter().map(|code| format!("{code:?}")).collect::<Vec<_>>().join(", ");
    let source = format!(
        "/// Published SCI control systems and compartments (ODNI ISM CVEnumISMSCIControls), sorted.\n\
         pub static SCI_CONTROLS: [&str; {}] = [{list}];\n",
        codes.len()
    );
    std::fs::write(out_dir.join("sci_controls.rs"), source)?;
    Ok(())
}

/// The tetragraphs of ISMCAT's taxonomy (`TetragraphTaxonomyDenormalized.xml`) with their member countries,
/// sorted; a tetragraph whose membership the taxonomy suppresses has none (the directory may give them).
fn write_tetragraphs(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let taxonomy = ism_ismcat::package_root().join("Taxonomy/ISMCAT/TetragraphTaxonomyDenormalized.xml");
    let text = std::fs::read_to_string(&taxonomy)?;
    let mut tetragraphs: Vec<(String, Vec<String>)> = Vec::new();
    for block in text.split("<Tetragraph ").skip(1) {
        let block = block.split("</Tetragraph>").next().unwrap_or_default();
        let Some(code) = element_texts(block, "TetraToken").next() else { continue };
        let mut members: Vec<String> = element_texts(block, "Country").map(str::to_string).collect();
        members.sort_unstable();
        members.dedup();
        tetragraphs.push((code.to_string(), members));
    }
    tetragraphs.sort();
    let fvey = tetragraphs.iter().find(|(code, _)| code == "FVEY");
    if tetragraphs.len() < 20 || fvey.is_none_or(|(_, members)| members.len() != 5) {
        return Err(format!("{}: expected the tetragraphs with FVEY's five members", taxonomy.display()).into());
    }
    let rows: Vec<String> = tetragraphs
        .iter()
        .map(|(code, members)| {
            let members = members.iter().map(|member| format!("{member:?}")).collect::<Vec<_>>().join(", ");
            format!("({code:?}, &[{members}])")
        })
        .collect();
    let source = format!(
        "/// ISMCAT tetragraphs and their member countries (ODNI ISMCAT taxonomy), sorted by code.\n\
         pub static TETRAGRAPHS: [(&str, &[&str]); {}] = [{}];\n",
        rows.len(),
        rows.join(", ")
    );
    std::fs::write(out_dir.join("tetragraphs.rs"), source)?;
    Ok(())
}

/// The texts of every `<name ...>text</name>` in `xml`.
fn element_texts<'a>(xml: &'a str, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let pieces: Vec<&'a str> = xml.split(open.as_str()).skip(1).collect();
    pieces.into_iter().filter_map(move |rest| {
        let text = rest.split_once('>')?.1;
        Some(text.split(close.as_str()).next()?.trim())
    })
}
