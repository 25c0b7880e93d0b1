//! Generates the server and client of `proto/inventory.proto`, and the
//! descriptor set that reflection serves and the RPC layers read the
//! methods from.

use std::error::Error;
use std::path::PathBuf;

// ANCHOR: build
fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("inventory_descriptor.bin"))
        .compile_protos(&["proto/inventory.proto"], &["proto"])?;
    Ok(())
}
// ANCHOR_END: build
