//! Compiles `proto/mailtips/v1/mailtips.proto` with a vendored `protoc` (no system install
//! needed) and writes the file descriptor set that server reflection serves.
//!
//! Two passes over the same file: the messages and the client, as prost and tonic make them;
//! then the server alone, in `server/`, with every message taken from the first pass except
//! the `GetMailTips` request and answer: the request is `api::request::GetMailTipsRequest`,
//! whose addresses are slices of the received body, and the answer is `api::answer::Answer`,
//! encoded straight from the evaluation without building the protobuf structs first.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = ["proto/mailtips/v1/mailtips.proto"];
    tonic_prost_build::configure()
        .build_server(false)
        // prost's codec, except that a bad request body is INVALID_ARGUMENT (src/api/codec.rs).
        .codec_path("crate::api::codec::ProtoCodec")
        .file_descriptor_set_path(out_dir.join("mailtips_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .codec_path("crate::api::codec::ProtoCodec")
        .extern_path(".mailtips.v1", "crate::api::pb")
        .extern_path(
            ".mailtips.v1.GetMailTipsRequest",
            "crate::api::request::GetMailTipsRequest",
        )
        .extern_path(
            ".mailtips.v1.GetMailTipsResponse",
            "crate::api::answer::Answer",
        )
        .out_dir(&server_dir)
        .compile_protos(&protos, &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
