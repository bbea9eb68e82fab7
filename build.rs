//! Generates the `liaison.v1` gRPC code with tonic-prost-build, using the vendored protoc so that building
//! needs no protoc on the machine.

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
    Ok(())
}
