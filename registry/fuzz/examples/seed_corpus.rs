//! Writes the seed corpus under `corpus/` (deterministic: ed25519 signatures
//! are, so running it again gives the same files). From `registry/fuzz`:
//! `cargo run --example seed_corpus`.

use std::fs;
use std::path::Path;

use magflock_registry::{Package, SigningKeyPair, sign_package};

const MINIMAL: &str = "name = \"hello\"\nversion = \"1.0.0\"\ndescription = \"Says hello\"\nhost = \">=0.1, <0.2\"\n\n[[endpoints]]\npath = \"/\"\n";

const FULL: &str = include_str!("../../tests/manifests/good-full.toml");

const PREAMBLE: &[u8; 8] = b"\0asm\x0d\x00\x01\x00";

fn key(seed: u8) -> SigningKeyPair {
    SigningKeyPair::from_seed(&[seed; 32]).expect("fixed seed is a valid key")
}

fn package(manifest: &str, body: &[u8]) -> Package {
    let mut component = PREAMBLE.to_vec();
    component.extend_from_slice(body);
    Package::new(manifest.as_bytes().to_vec(), component).expect("seed package is valid")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("create corpus directory");
    fs::write(dir.join(name), bytes).expect("write corpus file");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");

    // package: valid packages (signed by the trusted key, by another key,
    // unsigned) and a few refused ones.
    let dir = root.join("package");
    let mut signed = package(FULL, b"\x01\x04demo\x00\x00\x00\x00");
    sign_package(&mut signed, &key(7));
    let signed_bytes = signed.to_bytes();
    write(&dir, "signed-full.mfpkg", &signed_bytes);
    let mut other = package(MINIMAL, b"");
    sign_package(&mut other, &key(8));
    write(&dir, "signed-untrusted-key.mfpkg", &other.to_bytes());
    let unsigned = package(MINIMAL, b"body");
    let unsigned_bytes = unsigned.to_bytes();
    write(&dir, "unsigned-minimal.mfpkg", &unsigned_bytes);
    let mut trailing = unsigned_bytes.clone();
    trailing.extend_from_slice(&[0u8; 512]);
    write(&dir, "bad-trailing-block.mfpkg", &trailing);
    write(&dir, "bad-truncated.mfpkg", &signed_bytes[..signed_bytes.len() / 2]);
    // Turn the component preamble into a core-module preamble. The component's
    // data follows the manifest header, the padded manifest and its own header.
    let mut core = unsigned_bytes.clone();
    let at = 512 + MINIMAL.len().div_ceil(512) * 512 + 512;
    assert_eq!(&core[at..at + 8], PREAMBLE);
    core[at + 4..at + 8].copy_from_slice(b"\x01\x00\x00\x00");
    write(&dir, "bad-core-module.mfpkg", &core);

    // manifest: the valid and invalid manifests of the registry's tests.
    let dir = root.join("manifest");
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/manifests");
    let mut names: Vec<_> = fs::read_dir(&tests)
        .expect("read registry/tests/manifests")
        .map(|e| e.expect("directory entry").file_name())
        .collect();
    names.sort();
    for name in names {
        let text = fs::read(tests.join(&name)).expect("read test manifest");
        write(&dir, &name.to_string_lossy(), &text);
    }

    // signed_package_mutation: mutation lists, three bytes each (u16 LE offset,
    // XOR byte). (No empty files: libFuzzer skips them and always runs the
    // empty input itself.)
    let dir = root.join("signed_package_mutation");
    write(&dir, "zero-xor", &[0x10, 0x00, 0x00]);
    write(&dir, "cancelling-pair", &[0x10, 0x00, 0x01, 0x10, 0x00, 0x01]);
    write(&dir, "flip-manifest", &[0x00, 0x02, 0x01]);
    write(&dir, "flip-header-size", &[0x7c, 0x00, 0x01]);
    write(&dir, "flip-signature", &[0x00, 0x0c, 0x20]);
    write(&dir, "flip-end-of-archive", &[0xff, 0xff, 0x01]);
}
