//! Re-exports `tongsuo-src` 850.1.1 (Tongsuo 8.5.0) for `tongsuo-sys` 0.9.98; see Cargo.toml.
#![forbid(unsafe_code)]

pub use tongsuo_src_real::{Artifacts, Build, source_dir, version};
