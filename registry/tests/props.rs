//! Property tests: hostile bytes never panic the parsers, and no single-byte
//! change to a signed package ever verifies.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use magflock_registry::{Envelope, EnvelopeSignature, Manifest, Package, sign_package, verify_package};
use proptest::prelude::*;
use proptest::sample::Index;

/// A valid signed package file built from arbitrary (valid) inputs.
fn signed_package() -> impl Strategy<Value = (Vec<u8>, Package, u8)> {
    (
        "[a-z][a-z0-9]{0,12}",
        (0u64..100, 0u64..100, 0u64..100),
        "[A-Za-z0-9][A-Za-z0-9 .,!?']{0,59}",
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<u8>(),
    )
        .prop_map(|(name, (a, b, c), description, body, seed)| {
            let text = manifest_text(&name, &format!("{a}.{b}.{c}"), &description);
            let mut p = Package::new(text.into_bytes(), component(&body)).unwrap();
            sign_package(&mut p, &key(seed));
            (p.to_bytes(), p, seed)
        })
}

/// Manifest-shaped text: a valid manifest with one line replaced by noise.
fn manifest_like() -> impl Strategy<Value = String> {
    (
        any::<Index>(),
        prop_oneof![
            "[a-z.\\-]{1,12} = \"[ -~]{0,20}\"",
            "[a-z.\\-]{1,12} = -?[0-9_]{1,22}",
            "memory = \"[0-9]{0,12}[KMGT]?i?B?\"",
            "\\[[a-z.\\[\\]]{0,16}\\]",
            "path = \"[/*a-z.]{0,12}\"",
            "methods = \\[\"[A-Za-z]{0,8}\"\\]",
            "[a-z\\-]{1,8} = \"[<>=^~*0-9., ]{0,10}\"",
            "[a-z\\-]{1,8} = \\{ version = \"[<>=^~0-9., ]{0,10}\", (optional = true|reason = \"[a-z ]{0,8}\") \\}",
            ".{0,40}",
        ],
    )
        .prop_map(|(at, line)| {
            let base = "name = \"hello\"\nversion = \"1.0.0\"\ndescription = \"d\"\nhost = \"^0.1\"\n\
                        [resources]\nmemory = \"64MiB\"\n[dependencies]\nmaggate = \"^1\"\n\
                        [conflicts]\nold = { reason = \"r\" }\n[[endpoints]]\npath = \"/\"\n";
            let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
            let i = at.index(lines.len());
            lines[i] = line;
            lines.join("\n")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_package_parser(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = Package::from_bytes(&bytes);
    }

    #[test]
    fn mutated_package_files_never_panic_the_parser(
        (bytes, _p, _seed) in signed_package(),
        edits in proptest::collection::vec((any::<Index>(), any::<u8>()), 1..8),
    ) {
        let mut b = bytes;
        for (at, v) in edits {
            let i = at.index(b.len());
            b[i] = v;
        }
        let _ = Package::from_bytes(&b);
    }

    #[test]
    fn arbitrary_strings_never_panic_the_manifest_parser(text in ".{0,2000}") {
        let _ = Manifest::from_toml_str(&text);
    }

    #[test]
    fn manifest_like_text_parses_to_an_error_or_a_manifest_that_round_trips(text in manifest_like()) {
        if let Ok(m) = Manifest::from_toml_str(&text) {
            let again = Manifest::from_toml_str(&m.to_canonical_toml());
            prop_assert_eq!(again.as_ref().ok(), Some(&m));
        }
    }

    #[test]
    fn no_single_byte_change_to_a_signed_package_verifies(
        (bytes, p, seed) in signed_package(),
        at in any::<Index>(),
        xor in 1u8..=255,
    ) {
        let store = trust(&[&key(seed)]);
        prop_assert_eq!(&Package::from_bytes(&bytes).unwrap(), &p);
        prop_assert!(verify_package(&p, &store).is_ok());
        let mut b = bytes;
        let i = at.index(b.len());
        b[i] ^= xor;
        if let Ok(q) = Package::from_bytes(&b) {
            prop_assert!(verify_package(&q, &store).is_err(), "byte {} ^ {:#04x} verified", i, xor);
        }
    }

    #[test]
    fn arbitrary_envelopes_never_verify(
        payload_type in prop_oneof![Just(magflock_registry::signing::PAYLOAD_TYPE.to_owned()), ".{0,40}"],
        payload in "[A-Za-z0-9+/=]{0,200}",
        sigs in proptest::collection::vec(("[0-9a-f]{0,40}", "[A-Za-z0-9+/=]{0,100}"), 0..3),
    ) {
        let mut p = package("1.0.0", b"");
        p.set_signature(Some(Envelope {
            payload_type,
            payload,
            signatures: sigs.into_iter().map(|(keyid, sig)| EnvelopeSignature { keyid, sig }).collect(),
        }));
        let store = trust(&[&key(1)]);
        prop_assert!(verify_package(&p, &store).is_err());
        // And the envelope survives the package file unchanged, or is refused.
        if let Ok(q) = Package::from_bytes(&p.to_bytes()) {
            prop_assert_eq!(q.signature(), p.signature());
        }
    }
}
