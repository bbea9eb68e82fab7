//! Generates the `liaison.v1` gRPC code with tonic-prost-build, using the vendored protoc so that building
//! needs no protoc on the machine, and the REL TO country table from ODNI's ISM vocabulary (`ism` crate).

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
        .compile_protos(
            &["proto/liaison/v1/envelope.proto", "proto/liaison/v1/gateway.proto", "proto/liaison/v1/operator.proto"],
            &["proto"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    write_rel_to_countries(&out_dir)?;
    Ok(())
}

/// The country trigraphs of ISMCAT's REL TO vocabulary (`CVEnumISMCATRelTo`), sorted, as a Rust array.
/// Its tetragraphs (FVEY, NATO, ...) are left for the markings work that gives them members.
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
