//! Compiles `proto/mailtips/v1/mailtips.proto` with a vendored `protoc` (no system install
//! needed) and writes the file descriptor set that server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // prost's codec, except that a bad request body is INVALID_ARGUMENT (src/api/codec.rs).
        .codec_path("crate::api::codec::ProtoCodec")
        .file_descriptor_set_path(out_dir.join("mailtips_descriptor.bin"))
        .compile_protos(&["proto/mailtips/v1/mailtips.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
