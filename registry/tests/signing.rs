//! Signing and verification: a package binds manifest and component, and any
//! change to either, or to the envelope, is refused with the right code.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use magflock_registry::signing::{PAYLOAD_TYPE, STATEMENT_TYPE, pae};
use magflock_registry::{Envelope, EnvelopeSignature, Package, SignatureError, sign_package, verify_package};

fn code(r: Result<impl std::fmt::Debug, SignatureError>) -> &'static str {
    r.unwrap_err().code()
}

/// `package` with `envelope`'s signature fields altered by `edit`.
fn with_envelope(package: &Package, edit: impl FnOnce(&mut Envelope)) -> Package {
    let mut p = package.clone();
    let mut env = p.signature().unwrap().clone();
    edit(&mut env);
    p.set_signature(Some(env));
    p
}

#[test]
fn pack_sign_write_read_verify_round_trips() {
    let k = key(1);
    let p = signed("1.0.0", b"component body", &k);
    let bytes = p.to_bytes();
    let back = Package::from_bytes(&bytes).unwrap();
    assert_eq!(back, p);
    let stmt = verify_package(&back, &trust(&[&k])).unwrap();
    assert_eq!(stmt.key_id, k.key_id());
    assert_eq!(stmt.name, "hello");
    assert_eq!(stmt.version.to_string(), "1.0.0");
    assert_eq!(stmt.manifest_sha256, p.manifest_sha256());
    assert_eq!(stmt.component_sha256, p.component_sha256());
}

#[test]
fn signing_does_not_change_the_package_id_and_resigning_replaces_the_signature() {
    let unsigned = package("1.0.0", b"x");
    let mut p = unsigned.clone();
    sign_package(&mut p, &key(1));
    assert_eq!(p.package_id(), unsigned.package_id());
    assert_ne!(p.to_bytes(), unsigned.to_bytes());
    sign_package(&mut p, &key(2));
    assert_eq!(p.signature().unwrap().signatures.len(), 1);
    assert_eq!(code(verify_package(&p, &trust(&[&key(1)]))), "untrusted_key");
    assert!(verify_package(&p, &trust(&[&key(2)])).is_ok());
}

#[test]
fn unsigned_package_is_refused_as_unsigned() {
    assert_eq!(code(verify_package(&package("1.0.0", b""), &trust(&[&key(1)]))), "unsigned");
}

#[test]
fn signature_by_an_unknown_key_is_refused_naming_the_key() {
    let signer = key(1);
    let err = verify_package(&signed("1.0.0", b"", &signer), &trust(&[&key(2)])).unwrap_err();
    assert_eq!(err.code(), "untrusted_key");
    assert!(err.to_string().contains(&signer.key_id()));
}

#[test]
fn every_single_bit_flip_of_the_signature_is_a_bad_signature() {
    let k = key(1);
    let p = signed("1.0.0", b"body", &k);
    let sig = STANDARD.decode(&p.signature().unwrap().signatures[0].sig).unwrap();
    assert_eq!(sig.len(), 64);
    for bit in 0..sig.len() * 8 {
        let mut bad = sig.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let tampered = with_envelope(&p, |e| e.signatures[0].sig = STANDARD.encode(&bad));
        assert_eq!(code(verify_package(&tampered, &trust(&[&k]))), "bad_signature", "bit {bit}");
    }
}

#[test]
fn statement_of_one_version_with_the_component_of_another_is_a_digest_mismatch() {
    let k = key(1);
    let a = signed("1.0.0", b"version A", &k);
    let b = package("2.0.0", b"version B");
    let sig_a = a.signature().cloned();

    // Same manifest as A, component of B, signature of A.
    let mut mixed = Package::new(a.manifest_bytes().to_vec(), b.component().to_vec()).unwrap();
    mixed.set_signature(sig_a.clone());
    let err = verify_package(&mixed, &trust(&[&k])).unwrap_err();
    assert_eq!(err.code(), "digest_mismatch");
    assert!(matches!(err, SignatureError::DigestMismatch { field: "component_sha256", .. }));

    // Manifest and component of B, signature of A: the version differs first.
    let mut mixed = b.clone();
    mixed.set_signature(sig_a);
    let err = verify_package(&mixed, &trust(&[&k])).unwrap_err();
    assert!(matches!(err, SignatureError::DigestMismatch { field: "version", .. }), "{err}");
}

#[test]
fn every_manifest_byte_changed_is_refused() {
    let k = key(1);
    let p = signed("1.0.0", b"body", &k);
    let store = trust(&[&k]);
    let mut accepted_then_mismatched = 0;
    for i in 0..p.manifest_bytes().len() {
        for mask in [0x01u8, 0x20, 0x80, 0xff] {
            let mut m = p.manifest_bytes().to_vec();
            m[i] ^= mask;
            // Either the manifest no longer parses, or the signature no longer matches it.
            if let Ok(mut q) = Package::new(m, p.component().to_vec()) {
                q.set_signature(p.signature().cloned());
                assert_eq!(code(verify_package(&q, &store)), "digest_mismatch", "byte {i}");
                accepted_then_mismatched += 1;
            }
        }
    }
    // Flips inside the description still parse: the signature is what refuses them.
    assert!(accepted_then_mismatched > 0);
}

#[test]
fn every_component_byte_changed_is_refused() {
    let k = key(1);
    let body: Vec<u8> = (0..=255u8).collect();
    let p = signed("1.0.0", &body, &k);
    let store = trust(&[&k]);
    for i in 0..p.component().len() {
        for mask in [0x01u8, 0x80] {
            let mut c = p.component().to_vec();
            c[i] ^= mask;
            match Package::new(p.manifest_bytes().to_vec(), c) {
                Err(e) => {
                    assert!(i < 8, "byte {i}: {e}");
                    assert!(["not_a_component", "core_module"].contains(&e.code()));
                }
                Ok(mut q) => {
                    q.set_signature(p.signature().cloned());
                    assert_eq!(code(verify_package(&q, &store)), "digest_mismatch", "byte {i}");
                }
            }
        }
    }
}

#[test]
fn every_byte_of_a_signed_package_file_changed_is_refused() {
    let k = key(1);
    let bytes = signed("1.0.0", b"a small component", &k).to_bytes();
    let store = trust(&[&k]);
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        if let Ok(p) = Package::from_bytes(&b) {
            assert!(verify_package(&p, &store).is_err(), "byte {i} accepted");
        }
    }
}

#[test]
fn non_canonical_base64_is_refused() {
    let k = key(1);
    let p = signed("1.0.0", b"", &k);
    let env = p.signature().unwrap().clone();
    let sig = env.signatures[0].sig.clone();
    assert!(sig.ends_with("=="));
    // 64 bytes end in a character carrying 4 unused bits; setting one is non-canonical.
    let last = sig.as_bytes()[sig.len() - 3];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let idx = alphabet.iter().position(|c| *c == last).unwrap();
    let mut loose = sig.clone().into_bytes();
    loose[sig.len() - 3] = alphabet[idx | 1];
    let loose = String::from_utf8(loose).unwrap();
    for bad in [
        loose,
        sig.trim_end_matches('=').to_owned(),
        format!("{}\n{}", &sig[..40], &sig[40..]),
        format!(" {sig}"),
    ] {
        let q = with_envelope(&p, |e| e.signatures[0].sig = bad.clone());
        assert_eq!(code(verify_package(&q, &trust(&[&k]))), "bad_base64", "{bad:?}");
    }
    let payload = env.payload.trim_end_matches('=').to_owned() + " ";
    let q = with_envelope(&p, |e| e.payload = payload);
    assert_eq!(code(verify_package(&q, &trust(&[&k]))), "bad_base64");
}

#[test]
fn envelope_shape_errors_have_their_own_codes() {
    let k = key(1);
    let p = signed("1.0.0", b"", &k);
    let store = trust(&[&k]);
    let check = |edit: &dyn Fn(&mut Envelope), want: &str| {
        let q = with_envelope(&p, edit);
        assert_eq!(code(verify_package(&q, &store)), want);
        // The same holds after a trip through the package file.
        let q = Package::from_bytes(&q.to_bytes()).unwrap();
        assert_eq!(code(verify_package(&q, &store)), want);
    };
    check(&|e| e.payload_type = "application/vnd.in-toto+json".into(), "wrong_payload_type");
    check(&|e| e.signatures.clear(), "signature_count");
    check(&|e| e.signatures.push(e.signatures[0].clone()), "signature_count");
    check(&|e| e.signatures[0].keyid = e.signatures[0].keyid.to_uppercase(), "malformed_keyid");
    check(&|e| e.signatures[0].keyid.clear(), "malformed_keyid");
    check(&|e| e.signatures[0].sig = STANDARD.encode([0u8; 63]), "bad_signature_length");
    check(&|e| e.signatures[0].sig = STANDARD.encode([0u8; 65]), "bad_signature_length");
    check(&|e| e.signatures[0].sig = STANDARD.encode([0u8; 64]), "bad_signature");
}

/// An envelope over an arbitrary payload, validly signed by `k`.
fn sign_raw(p: &Package, k: &magflock_registry::SigningKeyPair, payload: &str) -> Package {
    let sig = k.sign(&pae(PAYLOAD_TYPE, payload.as_bytes()));
    let mut q = p.clone();
    q.set_signature(Some(Envelope {
        payload_type: PAYLOAD_TYPE.into(),
        payload: STANDARD.encode(payload),
        signatures: vec![EnvelopeSignature { keyid: k.key_id(), sig: STANDARD.encode(sig) }],
    }));
    q
}

#[test]
fn validly_signed_but_malformed_statements_are_refused() {
    let k = key(1);
    let p = package("1.0.0", b"");
    let store = trust(&[&k]);
    let (m, c) = (p.manifest_sha256(), p.component_sha256());
    let good = format!(
        r#"{{"_type":"{STATEMENT_TYPE}","name":"hello","version":"1.0.0","manifest_sha256":"{m}","component_sha256":"{c}"}}"#
    );
    assert!(verify_package(&sign_raw(&p, &k, &good), &store).is_ok());
    for (payload, want) in [
        (good.replace(STATEMENT_TYPE, "https://in-toto.io/Statement/v1"), "bad_statement"),
        (good.replace("}", r#","extra":1}"#), "bad_statement"),
        (good.replace(r#""name":"hello","#, ""), "bad_statement"),
        ("not json".to_owned(), "bad_statement"),
        (good.replace("\"hello\"", "\"other\""), "digest_mismatch"),
        (good.replace(&m, &c), "digest_mismatch"),
        (good.replace(&c, &c.to_uppercase()), "digest_mismatch"),
    ] {
        assert_eq!(code(verify_package(&sign_raw(&p, &k, &payload), &store)), want, "{payload}");
    }
}

#[test]
fn the_payload_type_is_covered_by_the_signature() {
    // A signature made for another payload type does not verify under ours.
    let k = key(1);
    let p = signed("1.0.0", b"", &k);
    let payload = STANDARD.decode(&p.signature().unwrap().payload).unwrap();
    let sig = k.sign(&pae("application/other", &payload));
    let q = with_envelope(&p, |e| e.signatures[0].sig = STANDARD.encode(sig));
    assert_eq!(code(verify_package(&q, &trust(&[&k]))), "bad_signature");
}
