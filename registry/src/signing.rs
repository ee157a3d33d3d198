//! Package signatures: a DSSE envelope over a statement that binds the
//! extension name and version to the sha256 of the manifest and of the component.
//!
//! The signed bytes are the DSSE pre-authentication encoding (PAE):
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN in ASCII decimal.

use serde::Deserialize;

use crate::keys::{SigningKeyPair, TrustStore, decode_canonical_base64, encode_base64, is_key_id};
use crate::manifest::quote;
use crate::package::Package;

/// The DSSE `payloadType` of a package statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.magflock.package-statement+json";
/// The `_type` inside a package statement.
pub const STATEMENT_TYPE: &str = "https://magflock.dev/package-statement/v1";

/// A DSSE envelope (`signature.json`). Its contents are untrusted until
/// [`verify_package`] says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Standard base64 of the statement JSON.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Key id of the signing key (hex, see [`crate::keys`]).
    pub keyid: String,
    /// Standard base64 of the 64-byte ed25519 signature over the PAE.
    pub sig: String,
}

impl Envelope {
    /// Parses `signature.json` strictly (unknown or duplicate fields refused).
    /// The caller bounds the input size.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The envelope as compact JSON, in one canonical byte form.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::from("{\"payloadType\":");
        push_json_string(&mut out, &self.payload_type);
        out.push_str(",\"payload\":");
        push_json_string(&mut out, &self.payload);
        out.push_str(",\"signatures\":[");
        for (i, s) in self.signatures.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"keyid\":");
            push_json_string(&mut out, &s.keyid);
            out.push_str(",\"sig\":");
            push_json_string(&mut out, &s.sig);
            out.push('}');
        }
        out.push_str("]}");
        out.into_bytes()
    }
}

/// Writes a JSON string literal (RFC 8259 escaping, as serde_json writes it).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The DSSE pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The statement JSON a signature over `package` covers.
pub fn package_statement(package: &Package) -> Vec<u8> {
    let m = package.manifest();
    let mut out = String::from("{\"_type\":");
    push_json_string(&mut out, STATEMENT_TYPE);
    out.push_str(",\"name\":");
    push_json_string(&mut out, m.name().as_str());
    out.push_str(",\"version\":");
    push_json_string(&mut out, &m.version().to_string());
    out.push_str(",\"manifest_sha256\":");
    push_json_string(&mut out, &package.manifest_sha256());
    out.push_str(",\"component_sha256\":");
    push_json_string(&mut out, &package.component_sha256());
    out.push('}');
    out.into_bytes()
}

/// Signs `package` with `key`, replacing any signature it had.
pub fn sign_package(package: &mut Package, key: &SigningKeyPair) {
    let payload = package_statement(package);
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    package.set_signature(Some(Envelope {
        payload_type: PAYLOAD_TYPE.to_owned(),
        payload: encode_base64(&payload),
        signatures: vec![EnvelopeSignature { keyid: key.key_id(), sig: encode_base64(&sig) }],
    }));
}

/// What a valid signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatement {
    /// The trusted key that signed.
    pub key_id: String,
    pub name: String,
    pub version: semver::Version,
    pub manifest_sha256: String,
    pub component_sha256: String,
}

/// Why a package signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("package is not signed")]
    Unsigned,
    #[error("envelope payloadType {found} is not {PAYLOAD_TYPE}")]
    WrongPayloadType { found: String },
    #[error("envelope {field} is not canonical standard base64")]
    BadBase64 { field: &'static str },
    #[error("envelope has {count} signatures; exactly one is required")]
    SignatureCount { count: usize },
    #[error("envelope keyid {keyid} is not 32 lowercase hex characters")]
    MalformedKeyId { keyid: String },
    #[error("signing key {keyid} is not trusted")]
    UntrustedKey { keyid: String },
    #[error("signature is {len} bytes; ed25519 signatures are 64")]
    BadSignatureLength { len: usize },
    #[error("signature does not verify with key {keyid}")]
    BadSignature { keyid: String },
    #[error("signed statement is malformed: {reason}")]
    BadStatement { reason: String },
    #[error("signed statement {field} {signed} does not match the package's {actual}")]
    DigestMismatch { field: &'static str, signed: String, actual: String },
}

impl SignatureError {
    /// A stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Unsigned => "unsigned",
            SignatureError::WrongPayloadType { .. } => "wrong_payload_type",
            SignatureError::BadBase64 { .. } => "bad_base64",
            SignatureError::SignatureCount { .. } => "signature_count",
            SignatureError::MalformedKeyId { .. } => "malformed_keyid",
            SignatureError::UntrustedKey { .. } => "untrusted_key",
            SignatureError::BadSignatureLength { .. } => "bad_signature_length",
            SignatureError::BadSignature { .. } => "bad_signature",
            SignatureError::BadStatement { .. } => "bad_statement",
            SignatureError::DigestMismatch { .. } => "digest_mismatch",
        }
    }
}

/// The statement as signed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Statement {
    #[serde(rename = "_type")]
    type_: String,
    name: String,
    version: String,
    manifest_sha256: String,
    component_sha256: String,
}

/// Verifies that `package` carries exactly one valid signature by a trusted key
/// over a statement naming this package's name, version, manifest and component.
pub fn verify_package(package: &Package, trust: &TrustStore) -> Result<VerifiedStatement, SignatureError> {
    let envelope = package.signature().ok_or(SignatureError::Unsigned)?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(SignatureError::WrongPayloadType { found: quote(&envelope.payload_type) });
    }
    let payload =
        decode_canonical_base64(&envelope.payload).ok_or(SignatureError::BadBase64 { field: "payload" })?;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(SignatureError::SignatureCount { count: envelope.signatures.len() });
    };
    if !is_key_id(&signature.keyid) {
        return Err(SignatureError::MalformedKeyId { keyid: quote(&signature.keyid) });
    }
    let sig = decode_canonical_base64(&signature.sig)
        .ok_or(SignatureError::BadBase64 { field: "signatures[0].sig" })?;
    let sig = <[u8; 64]>::try_from(sig.as_slice())
        .map_err(|_| SignatureError::BadSignatureLength { len: sig.len() })?;
    let key = trust
        .get(&signature.keyid)
        .ok_or_else(|| SignatureError::UntrustedKey { keyid: signature.keyid.clone() })?;
    if !key.verify_strict(&pae(PAYLOAD_TYPE, &payload), &sig) {
        return Err(SignatureError::BadSignature { keyid: signature.keyid.clone() });
    }

    // Signed by a trusted key from here on; still checked field by field.
    let statement: Statement = serde_json::from_slice(&payload)
        .map_err(|e| SignatureError::BadStatement { reason: e.to_string() })?;
    if statement.type_ != STATEMENT_TYPE {
        return Err(SignatureError::BadStatement {
            reason: format!("_type {} is not {STATEMENT_TYPE}", quote(&statement.type_)),
        });
    }
    let manifest = package.manifest();
    let name = manifest.name().to_string();
    let version = manifest.version().to_string();
    let manifest_sha256 = package.manifest_sha256();
    let component_sha256 = package.component_sha256();
    let checks = [
        ("name", &statement.name, &name),
        ("version", &statement.version, &version),
        ("manifest_sha256", &statement.manifest_sha256, &manifest_sha256),
        ("component_sha256", &statement.component_sha256, &component_sha256),
    ];
    for (field, signed, actual) in checks {
        if signed != actual {
            return Err(SignatureError::DigestMismatch {
                field,
                signed: quote(signed),
                actual: quote(actual),
            });
        }
    }
    Ok(VerifiedStatement {
        key_id: signature.keyid.clone(),
        name,
        version: manifest.version().clone(),
        manifest_sha256,
        component_sha256,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_example() {
        // Example from the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn envelope_json_round_trips_and_matches_serde_escaping() {
        let env = Envelope {
            payload_type: "a\"b\\c\n\u{1}é".to_owned(),
            payload: "AAAA".to_owned(),
            signatures: vec![EnvelopeSignature { keyid: "k".to_owned(), sig: "s".to_owned() }],
        };
        let json = env.to_json();
        assert_eq!(Envelope::from_json(&json).unwrap(), env);
        let via_serde = serde_json::to_string(&serde_json::json!({"x": env.payload_type})).unwrap();
        let mut mine = String::new();
        push_json_string(&mut mine, &env.payload_type);
        assert_eq!(via_serde, format!("{{\"x\":{mine}}}"));
    }

    #[test]
    fn envelope_with_unknown_or_duplicate_fields_is_refused() {
        for bad in [
            r#"{"payloadType":"t","payload":"","signatures":[],"extra":1}"#,
            r#"{"payloadType":"t","payloadType":"t","payload":"","signatures":[]}"#,
            r#"{"payloadType":"t","payload":"","signatures":[{"keyid":"k","sig":"s","x":1}]}"#,
        ] {
            assert!(Envelope::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
