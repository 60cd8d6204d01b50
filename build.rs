//! Compresses the browser pages' assets (`assets/`) with gzip at build time:
//! the binary embeds the compressed form, about a quarter of the size, and
//! serves it as is to every browser (see `src/pages`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = Path::new("assets");
    println!("cargo::rerun-if-changed={}", source.display());
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("assets");
    compress_tree(source, source, &out)
}

/// Writes `<out>/<path relative to root>.gz` for every file under `dir`.
fn compress_tree(root: &Path, dir: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            compress_tree(root, &path, out)?;
            continue;
        }
        println!("cargo::rerun-if-changed={}", path.display());
        let target = out.join(format!("{}.gz", path.strip_prefix(root)?.display()));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        // No name and a zero time in the header: the same input always gives the same bytes.
        let mut encoder: GzEncoder<Vec<u8>> = GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::best());
        encoder.write_all(&fs::read(&path)?)?;
        fs::write(&target, encoder.finish()?)?;
    }
    Ok(())
}
