//! Known answers from `tests/vectors/sealed_{certificates,content,v1,v2}.json` (generated
//! by `interop/vectors/sealed_sender.js` from libsignal-client 0.103.0), the peer's
//! verdicts on crafted input, and bad input: every truncation and bit flip is refused and
//! nothing panics.

extern crate std;

use core::convert::Infallible;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};
use serde_json::Value;

use super::*;
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::DecodeError;
use crate::keys::IdentityKey;

const CERTIFICATES: &str = include_str!("../../tests/vectors/sealed_certificates.json");
const CONTENT: &str = include_str!("../../tests/vectors/sealed_content.json");
const V1: &str = include_str!("../../tests/vectors/sealed_v1.json");
const V2: &str = include_str!("../../tests/vectors/sealed_v2.json");

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_else(|| panic!("no {field}"))).unwrap()
}

fn identity(private_hex: &Value) -> IdentityKeyPair {
    let b = hex::decode(private_hex.as_str().unwrap()).unwrap();
    IdentityKeyPair::from_private_key(PrivateKey::deserialize(&b).unwrap())
}

fn public(v: &Value, field: &str) -> PublicKey {
    PublicKey::deserialize(&bytes(v, field)).unwrap()
}

/// Randomness recorded in a vector, handed out exactly once.
struct FixedRng {
    bytes: Vec<u8>,
    pos: usize,
}

impl TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.pos + dst.len();
        assert!(
            end <= self.bytes.len(),
            "more randomness drawn than recorded"
        );
        dst.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(())
    }
}
impl TryCryptoRng for FixedRng {}

/// The family of a result, as the vectors name it.
fn family<T>(r: &Result<T, SealedSenderError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(SealedSenderError::Decode(_)) => "decode",
        Err(SealedSenderError::DecryptionFailed) => "decryption_failed",
        Err(SealedSenderError::SenderKeyMismatch) => "sender_key_mismatch",
        Err(e) => panic!("unexpected {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Certificates

/// A trust root, a server key, and the server's certificate for `key_id` signed by the
/// root.
fn server_chain(key_id: u32, rng: &mut ChaCha20Rng) -> (PrivateKey, PrivateKey, ServerCertificate) {
    let root = PrivateKey::generate(rng);
    let server = PrivateKey::generate(rng);
    let sc = ServerCertificate::new(key_id, server.public_key(), &root, rng);
    (root, server, sc)
}

fn trust_root(j: &Value) -> PublicKey {
    public(&j["trust_root"], "public")
}

#[test]
fn server_certificate_from_the_peer() {
    let j = json(CERTIFICATES);
    let sc = ServerCertificate::deserialize(&bytes(&j["server_certificate"], "bytes")).unwrap();
    assert_eq!(sc.key_id(), 1);
    assert_eq!(*sc.key(), public(&j["server_key"], "public"));
    assert_eq!(
        sc.certificate(),
        bytes(&j["server_certificate"], "certificate")
    );
    assert_eq!(sc.signature(), bytes(&j["server_certificate"], "signature"));
    assert_eq!(sc.verify(&[trust_root(&j)]), Ok(()));
    let other = public(&j["other_root"], "public");
    assert_eq!(
        sc.verify(&[other]),
        Err(CertificateError::UntrustedServerCertificate)
    );
    assert_eq!(sc.verify(&[other, trust_root(&j)]), Ok(()));
    assert_eq!(
        sc.verify(&[]),
        Err(CertificateError::UntrustedServerCertificate)
    );
}

#[test]
fn sender_certificates_from_the_peer_and_its_verdicts() {
    let j = json(CERTIFICATES);
    let roots = [trust_root(&j)];
    let other = [public(&j["other_root"], "public")];
    let both = [other[0], roots[0]];
    let cases = j["sender_certificates"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let label = c["label"].as_str().unwrap();
        let cert = SenderCertificate::deserialize(&bytes(c, "bytes")).unwrap();
        assert_eq!(
            cert.sender_uuid(),
            c["sender_uuid"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(cert.sender_e164(), c["sender_e164"].as_str(), "{label}");
        assert_eq!(
            u64::from(cert.device_id()),
            c["device_id"].as_u64().unwrap()
        );
        assert_eq!(cert.expiration(), c["expiration"].as_u64().unwrap());
        assert_eq!(
            cert.identity_key().serialize().to_vec(),
            bytes(c, "identity_key")
        );
        let trust = TrustPolicy::new(&roots, &[]);
        let Signer::Certificate(sc) = cert.signer() else {
            panic!("embedded")
        };
        assert_eq!(u64::from(sc.key_id()), c["server_key_id"].as_u64().unwrap());
        for t in c["validate"].as_array().unwrap() {
            let now = t["now"].as_u64().unwrap();
            let peer = t["valid"].as_bool().unwrap();
            let ours = cert.validate(&trust, now);
            assert_eq!(ours.is_ok(), peer, "{label} at {now}: {ours:?}");
        }
        let now = j["now"].as_u64().unwrap();
        let revoked = sc.key_id() == 0xDEAD_C357;
        assert_eq!(
            cert.validate(&trust, now),
            if revoked {
                Err(CertificateError::RevokedServerKey)
            } else {
                Ok(())
            }
        );
        assert_eq!(
            cert.validate(&TrustPolicy::new(&other, &[]), now).is_ok(),
            c["validate_other_root"].as_bool().unwrap()
        );
        assert_eq!(
            cert.validate(&TrustPolicy::new(&both, &[]), now).is_ok(),
            c["validate_both_roots"].as_bool().unwrap()
        );
        let expiry = cert.expiration();
        if !revoked {
            assert_eq!(cert.validate(&trust, expiry), Ok(()));
            assert_eq!(
                cert.validate(&trust, expiry + 1),
                Err(CertificateError::Expired)
            );
        }
    }
}

/// Where missive is stricter than the peer on purpose (docs/notes/sealed-sender.md).
const STRICTER: &[&str] = &[
    "key id 2^32 (the peer keeps the low 32 bits)",
    "hint 2^32 + 1 (the peer keeps the low 32 bits)",
];

#[test]
fn crafted_sender_certificates_get_the_peers_verdict() {
    let j = json(CERTIFICATES);
    let roots = [trust_root(&j)];
    let trust = TrustPolicy::new(&roots, &[]);
    let now = j["now"].as_u64().unwrap();
    for c in j["crafted"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let peer_ok = c["peer"] == "ok";
        let ours = SenderCertificate::deserialize(&bytes(c, "bytes"));
        assert_eq!(ours.is_ok(), peer_ok, "{label}: {ours:?} vs {}", c["peer"]);
        let Ok(cert) = ours else { continue };
        let p = &c["parsed"];
        let valid = cert.validate(&trust, now);
        assert_eq!(
            valid.is_ok(),
            p["valid"].as_bool().unwrap(),
            "{label}: {valid:?}"
        );
        if p.get("sender_uuid").is_none() {
            continue; // the whole-certificate cases record only the verdict
        }
        assert_eq!(
            cert.sender_uuid(),
            p["sender_uuid"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(cert.sender_e164(), p["sender_e164"].as_str(), "{label}");
        assert_eq!(
            u64::from(cert.device_id()),
            p["device_id"].as_u64().unwrap()
        );
        match (cert.signer(), &p["server_key_id"]) {
            (Signer::Certificate(sc), id) => {
                assert_eq!(Some(u64::from(sc.key_id())), id.as_u64(), "{label}")
            }
            // The peer resolves ids 2 and 3 itself; an unknown id is its error.
            (Signer::Reference(r), Value::Number(n)) => {
                assert_eq!(Some(u64::from(*r)), n.as_u64(), "{label}")
            }
            (Signer::Reference(r), Value::String(e)) => {
                assert!(e.ends_with(&format!("ID: {r}")), "{label}: {e}")
            }
            (s, v) => panic!("{label}: {s:?} {v}"),
        }
        if let Signer::Reference(_) = cert.signer() {
            assert_eq!(valid, Err(CertificateError::UnknownServerCertificate));
        }
    }
}

#[test]
fn crafted_server_certificates_get_the_peers_verdict() {
    let j = json(CERTIFICATES);
    for c in j["server_crafted"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let ours = ServerCertificate::deserialize(&bytes(c, "bytes"));
        if STRICTER.contains(&label) {
            assert_eq!(ours, Err(DecodeError::BadLength), "{label}");
            continue;
        }
        assert_eq!(ours.is_ok(), c["peer"] == "ok", "{label}: {ours:?}");
        if let Ok(sc) = ours {
            assert_eq!(
                u64::from(sc.key_id()),
                c["parsed"]["key_id"].as_u64().unwrap()
            );
            assert_eq!(sc.verify(&[trust_root(&j)]), Ok(()), "{label}");
        }
    }
}

/// The policy's revocation list, on top of the built-in one, refuses a certificate whose
/// server key id it names; the accessors give back what was signed.
#[test]
fn revocation_by_policy_and_the_certificate_accessors() {
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let (root, server, sc) = server_chain(7, &mut rng);
    let id = IdentityKeyPair::generate(&mut rng);
    let cert = SenderCertificate::new(
        "alice",
        None,
        3,
        *id.identity_key(),
        100,
        Signer::Certificate(sc.clone()),
        &server,
        &mut rng,
    )
    .unwrap();
    let roots = [root.public_key()];
    let plain = TrustPolicy::new(&roots, &[]);
    assert_eq!(plain.trust_roots(), &roots[..]);
    assert_eq!(cert.validate(&plain, 100), Ok(()));
    for (ids, revoked) in [
        (&[7u32][..], true),
        (&[8, 7], true),
        (&[8], false),
        (&[], false),
    ] {
        let policy = plain.with_revoked_server_key_ids(ids);
        assert_eq!(policy.is_revoked(7), revoked, "{ids:?}");
        assert!(policy.is_revoked(REVOKED_SERVER_KEY_IDS[0]));
        let want = if revoked {
            Err(CertificateError::RevokedServerKey)
        } else {
            Ok(())
        };
        assert_eq!(cert.validate(&policy, 100), want, "{ids:?}");
    }
    assert!(!plain.is_revoked(7));
    // What the server signed, and its signature over it.
    assert_eq!(cert.signature().len(), 64);
    assert!(
        server
            .public_key()
            .verify_signature(cert.certificate(), cert.signature())
    );
    assert!(cert.serialized().len() > cert.certificate().len() + 64);
    // The Debug forms name the public parts only.
    assert_eq!(
        format!("{sc:?}"),
        format!(
            "ServerCertificate {{ key_id: 7, key: {:?}, .. }}",
            server.public_key()
        )
    );
    assert_eq!(
        format!("{cert:?}"),
        format!(
            "SenderCertificate {{ sender_uuid: \"alice\", device_id: 3, expiration: 100, \
             identity_key: {:?}, .. }}",
            id.identity_key()
        )
    );
}

/// The outer `protobuf{1: certificate, 2: signature}` takes both as bytes: either field
/// with another wire type is malformed, not missing.
#[test]
fn a_certificate_field_of_the_wrong_wire_type_is_malformed() {
    let mut rng = ChaCha20Rng::seed_from_u64(32);
    let (_, _, sc) = server_chain(7, &mut rng);
    for number in [1u32, 2] {
        let mut b = Vec::new();
        crate::wire::proto::put_uint(&mut b, number, 5);
        b.extend_from_slice(sc.serialized());
        assert_eq!(
            SenderCertificate::deserialize(&b).err(),
            Some(DecodeError::Malformed),
            "{number}"
        );
        assert_eq!(
            ServerCertificate::deserialize(&b).err(),
            Some(DecodeError::Malformed),
            "{number}"
        );
    }
}

/// An entry count the bytes cannot hold (each entry takes at least a service id and a
/// byte) is refused before any entry is read; the largest count they could hold is read.
#[test]
fn v2_a_count_larger_than_the_bytes_can_hold_is_refused_first() {
    for (version, id_len) in [(0x23u8, 17usize), (0x22, 16)] {
        // A length whose quotients by 16, 17 and 18 differ.
        let rest = (id_len + 1) * 17;
        let at_most = rest / (id_len + 1);
        for count in [at_most, at_most + 1] {
            let mut m = vec![version];
            crate::wire::proto::put_varint(&mut m, count as u64);
            m.extend(core::iter::repeat_n(0u8, rest));
            let got = SentMessage::parse(&m).err();
            assert!(got.is_some());
            assert_eq!(
                got == Some(DecodeError::BadLength),
                count > at_most,
                "{version:#x} {count}"
            );
        }
    }
}

#[test]
fn service_id_kinds() {
    let uuid = [0x5a; 16];
    for kind in [ServiceIdKind::Aci, ServiceIdKind::Pni] {
        let id = ServiceId::new(kind, uuid);
        assert_eq!(id.kind(), kind);
        assert_eq!(ServiceId::from_bytes(id.as_bytes()).unwrap().kind(), kind);
        assert_eq!(id.uuid(), uuid);
        assert_eq!(format!("{id:?}"), format!("ServiceId({id})"));
    }
    let pni = ServiceId::new(ServiceIdKind::Pni, uuid);
    assert_eq!(
        format!("{pni:?}"),
        "ServiceId(PNI:5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a)"
    );
}

#[test]
fn certificates_made_here_verify_and_reference_by_id() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (root, server, sc) = server_chain(7, &mut rng);
    assert_eq!(ServerCertificate::deserialize(sc.serialized()).unwrap(), sc);
    let id = IdentityKeyPair::generate(&mut rng);
    let make = |signer, rng: &mut ChaCha20Rng| {
        SenderCertificate::new(
            "alice",
            Some("+1555"),
            3,
            *id.identity_key(),
            100,
            signer,
            &server,
            rng,
        )
    };
    let embedded = make(Signer::Certificate(sc.clone()), &mut rng).unwrap();
    let by_ref = make(Signer::Reference(7), &mut rng).unwrap();
    for c in [&embedded, &by_ref] {
        assert_eq!(&SenderCertificate::deserialize(c.serialized()).unwrap(), c);
    }
    let roots = [root.public_key()];
    assert_eq!(
        embedded.validate(&TrustPolicy::new(&roots, &[]), 100),
        Ok(())
    );
    assert_eq!(
        by_ref.validate(&TrustPolicy::new(&roots, &[]), 100),
        Err(CertificateError::UnknownServerCertificate)
    );
    let known = [sc.clone()];
    assert_eq!(
        by_ref.validate(&TrustPolicy::new(&roots, &known), 100),
        Ok(())
    );
    assert_eq!(
        by_ref.validate(&TrustPolicy::new(&roots, &known), 101),
        Err(CertificateError::Expired)
    );
    // A known certificate must still verify under a trust root.
    let stranger = [PrivateKey::generate(&mut rng).public_key()];
    assert_eq!(
        by_ref.validate(&TrustPolicy::new(&stranger, &known), 100),
        Err(CertificateError::UntrustedServerCertificate)
    );
    // Signed by another server key than the certificate names.
    let forged = SenderCertificate::new(
        "alice",
        None,
        3,
        *id.identity_key(),
        100,
        Signer::Reference(7),
        &PrivateKey::generate(&mut rng),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        forged.validate(&TrustPolicy::new(&roots, &known), 100),
        Err(CertificateError::BadSignature)
    );
    // Misuse: device ids, and an embedded certificate for another key.
    for d in [0u8, 128, 255] {
        assert!(matches!(
            SenderCertificate::new(
                "a",
                None,
                d,
                *id.identity_key(),
                1,
                Signer::Reference(7),
                &server,
                &mut rng
            ),
            Err(SealedSenderError::Misuse(_))
        ));
    }
    let other_server = PrivateKey::generate(&mut rng);
    assert!(matches!(
        SenderCertificate::new(
            "a",
            None,
            1,
            *id.identity_key(),
            1,
            Signer::Certificate(sc),
            &other_server,
            &mut rng
        ),
        Err(SealedSenderError::Misuse(_))
    ));
    // A revoked key id, correctly signed.
    let revoked = ServerCertificate::new(
        REVOKED_SERVER_KEY_IDS[0],
        server.public_key(),
        &root,
        &mut rng,
    );
    assert_eq!(
        revoked.verify(&roots),
        Err(CertificateError::RevokedServerKey)
    );
}

// ---------------------------------------------------------------------------------------
// Content

#[test]
fn contents_from_the_peer() {
    let j = json(CONTENT);
    for c in j["contents"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let b = bytes(c, "bytes");
        let u = UnidentifiedSenderMessageContent::deserialize(&b).unwrap();
        assert_eq!(
            u64::from(u.msg_type().ciphertext_message_type()),
            c["msg_type"].as_u64().unwrap(),
            "{label}"
        );
        assert_eq!(
            u64::from(u.msg_type().wire_value()),
            c["wire_type"].as_u64().unwrap()
        );
        assert_eq!(
            u64::from(u.content_hint().0),
            c["content_hint"].as_u64().unwrap()
        );
        assert_eq!(
            u.group_id().map(hex::encode),
            c["group_id"].as_str().map(ToString::to_string)
        );
        assert_eq!(u.contents(), bytes(c, "contents"));
        assert_eq!(u.sender().serialized(), bytes(c, "sender_certificate"));
        // Built here from the same parts: the same bytes.
        let again = UnidentifiedSenderMessageContent::new(
            u.msg_type(),
            u.sender().clone(),
            u.contents().to_vec(),
            u.content_hint(),
            u.group_id().map(<[u8]>::to_vec),
        );
        assert_eq!(again.serialized(), b.as_slice(), "{label}");
    }
    // An empty group id is not written (as the peer does).
    let first = &j["contents"][0];
    let u = UnidentifiedSenderMessageContent::deserialize(&bytes(first, "bytes")).unwrap();
    let with_empty = UnidentifiedSenderMessageContent::new(
        u.msg_type(),
        u.sender().clone(),
        u.contents().to_vec(),
        u.content_hint(),
        Some(vec![]),
    );
    assert_eq!(with_empty.serialized(), u.serialized());
}

#[test]
fn crafted_contents_get_the_peers_verdict() {
    let j = json(CONTENT);
    for c in j["crafted"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let ours = UnidentifiedSenderMessageContent::deserialize(&bytes(c, "bytes"));
        if STRICTER.contains(&label) {
            assert_eq!(ours.err(), Some(DecodeError::BadLength), "{label}");
            continue;
        }
        assert_eq!(ours.is_ok(), c["peer"] == "ok", "{label}: {ours:?}");
        if let Ok(u) = ours {
            let p = &c["parsed"];
            assert_eq!(
                u64::from(u.msg_type().ciphertext_message_type()),
                p["msg_type"].as_u64().unwrap(),
                "{label}"
            );
            assert_eq!(
                u64::from(u.content_hint().0),
                p["content_hint"].as_u64().unwrap()
            );
            assert_eq!(
                u.group_id().map(hex::encode),
                p["group_id"].as_str().map(ToString::to_string)
            );
            assert_eq!(
                u.contents(),
                hex::decode(p["contents"].as_str().unwrap()).unwrap()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// v1

#[test]
fn v1_opens_the_peers_envelopes() {
    let j = json(V1);
    let bob = identity(&j["recipient_identity_private"]);
    let content = bytes(&j, "content");
    for e in j["peer_made"].as_array().unwrap() {
        let got = open(&bytes(e, "envelope"), &bob).unwrap();
        assert_eq!(got.serialized(), content.as_slice());
        assert_eq!(
            got.sender().identity_key().serialize().to_vec(),
            bytes(&j, "sender_identity_public")
        );
    }
}

#[test]
fn v1_seals_exactly_what_the_peer_opened() {
    let j = json(V1);
    let alice = identity(&j["sender_identity_private"]);
    let bob = identity(&j["recipient_identity_private"]);
    let content = UnidentifiedSenderMessageContent::deserialize(&bytes(&j, "content")).unwrap();
    for e in j["reference_made"].as_array().unwrap() {
        assert!(e["peer_opens"].as_bool().unwrap());
        let mut rng = FixedRng {
            bytes: bytes(e, "ephemeral_private"),
            pos: 0,
        };
        let sealed = seal_v1(&content, &alice, bob.identity_key(), &mut rng).unwrap();
        assert_eq!(rng.pos, 32);
        assert_eq!(sealed, bytes(e, "envelope"));
        assert_eq!(open(&sealed, &bob).unwrap(), content);
    }
}

#[test]
fn v1_refusals_match_the_peer() {
    let j = json(V1);
    let bob = identity(&j["recipient_identity_private"]);
    for c in j["refusals"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let ours = open(&bytes(c, "envelope"), &bob);
        assert_eq!(
            family(&ours),
            c["missive"].as_str().unwrap(),
            "{label}: {ours:?}"
        );
        // Where both refuse, or both accept, the verdicts agree; the differences are the
        // version bytes missive checks exactly and a static of the wrong length.
        let peer_ok = c["peer"] == "ok";
        if peer_ok != ours.is_ok() {
            assert!(label.starts_with("version 0x"), "{label}");
        }
    }
}

#[test]
fn v1_refuses_a_sender_that_does_not_hold_the_certificates_key() {
    let j = json(V1);
    let bob = identity(&j["recipient_identity_private"]);
    let content = UnidentifiedSenderMessageContent::deserialize(&bytes(&j, "content")).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mallory = IdentityKeyPair::generate(&mut rng);
    assert!(matches!(
        seal_v1(&content, &mallory, bob.identity_key(), &mut rng),
        Err(SealedSenderError::Misuse(_))
    ));
}

// ---------------------------------------------------------------------------------------
// v2

fn destinations(e: &Value) -> (Vec<Destination>, Vec<ServiceId>) {
    let dests = e["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Destination {
            service_id: ServiceId::from_bytes(&bytes(d, "service_id").try_into().unwrap()).unwrap(),
            identity_key: IdentityKey::deserialize(&bytes(d, "identity_key")).unwrap(),
            devices: d["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| RecipientDevice {
                    device_id: x["device_id"].as_u64().unwrap() as u8,
                    registration_id: x["registration_id"].as_u64().unwrap() as u16,
                })
                .collect(),
        })
        .collect();
    let excluded = e["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            ServiceId::from_bytes(
                &hex::decode(x.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    (dests, excluded)
}

/// Checks `SentMessage::parse` against the peer's parse: recipients, devices, excluded
/// and the copy cut for each.
fn same_parse(sent: &SentMessage<'_>, peer: &Value, label: &str) {
    let peer_recipients = peer["recipients"].as_array().unwrap();
    assert_eq!(sent.recipients().len(), peer_recipients.len(), "{label}");
    for p in peer_recipients {
        let id = ServiceId::parse(p["service_id"].as_str().unwrap()).unwrap();
        let r = sent
            .recipients()
            .iter()
            .find(|r| r.service_id() == id)
            .unwrap_or_else(|| panic!("{label}: {id} missing"));
        let devices: Vec<u64> = r.devices().iter().map(|d| u64::from(d.device_id)).collect();
        let regs: Vec<u64> = r
            .devices()
            .iter()
            .map(|d| u64::from(d.registration_id))
            .collect();
        let pd: Vec<u64> = p["device_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let pr: Vec<u64> = p["registration_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(devices, pd, "{label}");
        assert_eq!(regs, pr, "{label}");
        assert_eq!(sent.received_message(r), bytes(p, "received"), "{label}");
    }
    let excluded: Vec<String> = sent.excluded().iter().map(ToString::to_string).collect();
    let peer_excluded: Vec<String> = peer["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(excluded, peer_excluded, "{label}");
}

fn recipient_key(j: &Value, id: &ServiceId) -> IdentityKeyPair {
    let uuid = super::service_id::format_uuid(&id.uuid());
    identity(&j["recipients"][uuid.as_str()]["private"])
}

#[test]
fn v2_parses_cuts_and_opens_the_peers_message() {
    let j = json(V2);
    let content = bytes(&j, "content");
    let sent_bytes = bytes(&j["peer_made"], "sent");
    let sent = SentMessage::parse(&sent_bytes).unwrap();
    same_parse(&sent, &j["peer_made"]["peer_parse"], "peer_made");
    for r in sent.recipients() {
        let key = recipient_key(&j, &r.service_id());
        let got = open(&sent.received_message(r), &key).unwrap();
        assert_eq!(got.serialized(), content.as_slice());
    }
}

#[test]
fn v2_seals_exactly_what_the_peer_parsed_cut_and_opened() {
    let j = json(V2);
    let alice = identity(&j["sender_identity_private"]);
    let content = UnidentifiedSenderMessageContent::deserialize(&bytes(&j, "content")).unwrap();
    for e in j["reference_made"].as_array().unwrap() {
        let label = e["label"].as_str().unwrap();
        assert!(e["peer_opens"].as_bool().unwrap());
        let (dests, excluded) = destinations(e);
        let mut rng = FixedRng {
            bytes: bytes(e, "M"),
            pos: 0,
        };
        let sealed = seal_v2(&content, &alice, &dests, &excluded, &mut rng).unwrap();
        assert_eq!(rng.pos, 32);
        assert_eq!(sealed, bytes(e, "sent"), "{label}");
        let sent = SentMessage::parse(&sealed).unwrap();
        same_parse(&sent, &e["peer_parse"], label);
        for r in sent.recipients() {
            let key = recipient_key(&j, &r.service_id());
            assert_eq!(
                open(&sent.received_message(r), &key).unwrap(),
                content,
                "{label}"
            );
        }
    }
}

#[test]
fn v2_refusals_match_the_peer() {
    let j = json(V2);
    let bob = identity(&j["recipients"]["796abedb-ca4e-4f18-8803-1fde5b921f9f"]["private"]);
    for c in j["refusals"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let ours = open(&bytes(c, "received"), &bob);
        assert_eq!(
            family(&ours),
            c["missive"].as_str().unwrap(),
            "{label}: {ours:?}"
        );
        if (c["peer"] == "ok") != ours.is_ok() {
            assert!(label.starts_with("version 0x"), "{label}");
        }
    }
}

#[test]
fn v2_crafted_sent_messages() {
    let j = json(V2);
    for c in j["sent_crafted"].as_array().unwrap() {
        let label = c["label"].as_str().unwrap();
        let b = bytes(c, "sent");
        let ours = SentMessage::parse(&b);
        assert_eq!(
            if ours.is_ok() { "ok" } else { "decode" },
            c["missive"].as_str().unwrap(),
            "{label}: {ours:?}"
        );
        if let (Ok(sent), true) = (&ours, c["peer"] == "ok") {
            same_parse(sent, &c["peer_parse"], label);
        }
    }
}

#[test]
fn v2_sealing_refuses_bad_destinations() {
    let j = json(V2);
    let alice = identity(&j["sender_identity_private"]);
    let content = UnidentifiedSenderMessageContent::deserialize(&bytes(&j, "content")).unwrap();
    let (dests, _) = destinations(&j["reference_made"][0]);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let misuse = |d: &[Destination], x: &[ServiceId], rng: &mut ChaCha20Rng| {
        matches!(
            seal_v2(&content, &alice, d, x, rng),
            Err(SealedSenderError::Misuse(_))
        )
    };
    let mut twice = dests.clone();
    twice.push(dests[0].clone());
    assert!(misuse(&twice, &[], &mut rng));
    assert!(misuse(&dests, &[dests[0].service_id], &mut rng));
    let x = ServiceId::parse("dddddddd-0000-4000-8000-000000000001").unwrap();
    assert!(misuse(&dests, &[x, x], &mut rng));
    for (device_id, registration_id) in [(0u8, 1u16), (128, 1), (1, 0x4000)] {
        let mut bad = dests.clone();
        bad[0].devices = vec![RecipientDevice {
            device_id,
            registration_id,
        }];
        assert!(misuse(&bad, &[], &mut rng));
    }
    // The largest device and registration ids are accepted, and travel as given.
    let mut top = dests.clone();
    top[0].devices = vec![RecipientDevice {
        device_id: 127,
        registration_id: 0x3fff,
    }];
    let sealed = seal_v2(&content, &alice, &top, &[], &mut rng).unwrap();
    let parsed = SentMessage::parse(&sealed).unwrap();
    let first = parsed
        .recipients()
        .iter()
        .find(|r| r.service_id() == top[0].service_id)
        .unwrap();
    assert_eq!(
        first
            .devices()
            .iter()
            .map(|d| (d.device_id, d.registration_id))
            .collect::<Vec<_>>(),
        vec![(127, 0x3fff)]
    );
    let mut none = dests.clone();
    none[0].devices.clear();
    assert!(misuse(&none, &[], &mut rng));
    let mallory = IdentityKeyPair::generate(&mut rng);
    assert!(matches!(
        seal_v2(&content, &mallory, &dests, &[], &mut rng),
        Err(SealedSenderError::Misuse(_))
    ));
    // The shared part is the message's tail: E and the ciphertext.
    let shared = parsed.shared();
    assert!(shared.len() >= 32 + 16);
    assert_eq!(shared, &sealed[sealed.len() - shared.len()..]);
    // No destinations at all is allowed (only excluded ones): nobody can open it.
    let only_excluded = seal_v2(&content, &alice, &[], &[x], &mut rng).unwrap();
    let parsed = SentMessage::parse(&only_excluded).unwrap();
    assert!(parsed.recipients().is_empty());
    assert_eq!(parsed.excluded(), &[x]);
}

// ---------------------------------------------------------------------------------------
// decrypt: envelope + validation

#[test]
fn decrypt_validates_the_sender() {
    let j = json(V1);
    let bob = identity(&j["recipient_identity_private"]);
    let certs = json(CERTIFICATES);
    let roots = [trust_root(&certs)];
    let trust = TrustPolicy::new(&roots, &[]);
    let env = bytes(&j["reference_made"][0], "envelope");
    let now = certs["now"].as_u64().unwrap();
    let me = "796abedb-ca4e-4f18-8803-1fde5b921f9f";
    let got = decrypt(&env, &bob, &trust, now, me, 2).unwrap();
    assert_eq!(
        got.sender().sender_uuid(),
        "9d0652a3-dcc3-4d11-975f-74d61598733f"
    );
    let expiry = got.sender().expiration();
    assert!(decrypt(&env, &bob, &trust, expiry, me, 2).is_ok());
    assert_eq!(
        decrypt(&env, &bob, &trust, expiry + 1, me, 2),
        Err(SealedSenderError::Certificate(CertificateError::Expired))
    );
    let other = [public(&certs["other_root"], "public")];
    assert_eq!(
        decrypt(&env, &bob, &TrustPolicy::new(&other, &[]), now, me, 2),
        Err(SealedSenderError::Certificate(
            CertificateError::UntrustedServerCertificate
        ))
    );
    // The sender's own uuid and device: a self-send; another device of it is not.
    let alice = "9d0652a3-dcc3-4d11-975f-74d61598733f";
    assert_eq!(
        decrypt(&env, &bob, &trust, now, alice, 1),
        Err(SealedSenderError::SelfSend)
    );
    assert!(decrypt(&env, &bob, &trust, now, alice, 2).is_ok());
    // v2 copies go through the same checks.
    let v2 = json(V2);
    let rcv = bytes(
        &v2["reference_made"][1]["peer_parse"]["recipients"][0],
        "received",
    );
    let got = decrypt(&rcv, &bob, &trust, now, me, 2).unwrap();
    assert_eq!(got.msg_type(), ContentType::SenderKey);
    assert_eq!(
        decrypt(&rcv, &bob, &trust, got.sender().expiration() + 1, me, 2),
        Err(SealedSenderError::Certificate(CertificateError::Expired))
    );
}

// ---------------------------------------------------------------------------------------
// Bad input

fn small_world() -> (
    IdentityKeyPair,
    IdentityKeyPair,
    UnidentifiedSenderMessageContent,
    ChaCha20Rng,
) {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (_root, server, sc) = server_chain(1, &mut rng);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let cert = SenderCertificate::new(
        "9d0652a3-dcc3-4d11-975f-74d61598733f",
        None,
        1,
        *alice.identity_key(),
        10,
        Signer::Certificate(sc),
        &server,
        &mut rng,
    )
    .unwrap();
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::Whisper,
        cert,
        b"inner".to_vec(),
        ContentHint::RESENDABLE,
        Some(vec![1, 2]),
    );
    (alice, bob, content, rng)
}

/// Every truncation and every single-bit flip of `good` is refused by `f`.
fn every_change_refused<T: core::fmt::Debug, E>(good: &[u8], f: impl Fn(&[u8]) -> Result<T, E>) {
    assert!(f(good).is_ok());
    for len in 0..good.len() {
        assert!(f(&good[..len]).is_err(), "truncated to {len}");
    }
    let mut b = good.to_vec();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            assert!(f(&b).is_err(), "byte {i} bit {bit}: {:?}", f(&b).ok());
            b[i] ^= 1 << bit;
        }
    }
}

#[test]
fn v1_every_truncation_and_bit_flip_is_refused() {
    let (alice, bob, content, mut rng) = small_world();
    let env = seal_v1(&content, &alice, bob.identity_key(), &mut rng).unwrap();
    every_change_refused(&env, |b| open(b, &bob));
    let mut extended = env.clone();
    extended.push(0);
    assert!(open(&extended, &bob).is_err());
}

#[test]
fn v2_every_truncation_and_bit_flip_of_a_copy_is_refused() {
    let (alice, bob, content, mut rng) = small_world();
    let id = ServiceId::parse("796abedb-ca4e-4f18-8803-1fde5b921f9f").unwrap();
    let dest = Destination {
        service_id: id,
        identity_key: *bob.identity_key(),
        devices: vec![RecipientDevice {
            device_id: 1,
            registration_id: 7,
        }],
    };
    let sent = seal_v2(&content, &alice, &[dest], &[], &mut rng).unwrap();
    let copy = SentMessage::parse(&sent)
        .unwrap()
        .received_message_for(&id)
        .unwrap();
    every_change_refused(&copy, |b| open(b, &bob));
    // The sent message: any truncation or flip either fails to parse, or gives a copy
    // that does not open (or one for nobody); never a panic.
    for len in 0..sent.len() {
        let _ = SentMessage::parse(&sent[..len]);
    }
    let mut b = sent.clone();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            if let Ok(p) = SentMessage::parse(&b)
                && let Some(c) = p.received_message_for(&id)
            {
                let opened = open(&c, &bob);
                assert!(opened.is_err() || c == copy, "byte {i} bit {bit}");
            }
            b[i] ^= 1 << bit;
        }
    }
}

#[test]
fn certificate_every_truncation_and_bit_flip_is_refused() {
    let (_, _, content, _) = small_world();
    let cert = content.sender();
    let Signer::Certificate(sc) = cert.signer() else {
        panic!()
    };
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let (root, server, sc2) = server_chain(1, &mut rng);
    let cert2 = SenderCertificate::new(
        cert.sender_uuid(),
        Some("+1555"),
        1,
        *cert.identity_key(),
        10,
        Signer::Certificate(sc2.clone()),
        &server,
        &mut rng,
    )
    .unwrap();
    let roots = [root.public_key()];
    let trust = TrustPolicy::new(&roots, &[]);
    every_change_refused(cert2.serialized(), |b| {
        SenderCertificate::deserialize(b)
            .map_err(SealedSenderError::Decode)
            .and_then(|c| {
                c.validate(&trust, 10)
                    .map_err(SealedSenderError::Certificate)
            })
    });
    every_change_refused(sc2.serialized(), |b| {
        ServerCertificate::deserialize(b)
            .map_err(SealedSenderError::Decode)
            .and_then(|c| c.verify(&roots).map_err(SealedSenderError::Certificate))
    });
    // The parsers alone on the other certificate: no panics.
    for len in 0..sc.serialized().len() {
        let _ = ServerCertificate::deserialize(&sc.serialized()[..len]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = ServerCertificate::deserialize(&b);
        let _ = SenderCertificate::deserialize(&b);
        let _ = UnidentifiedSenderMessageContent::deserialize(&b);
        let _ = SentMessage::parse(&b);
        let mut v = b.clone();
        if let Some(first) = v.first_mut() { *first = VERSION_V2_SENT; }
        let _ = SentMessage::parse(&v);
    }

    #[test]
    fn open_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300), v1 in any::<bool>()) {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let me = IdentityKeyPair::generate(&mut rng);
        let mut b = b;
        if let Some(first) = b.first_mut() { *first = if v1 { VERSION_V1 } else { VERSION_V2_RECEIVED }; }
        prop_assert!(open(&b, &me).is_err());
    }
}

#[test]
fn debug_output_names_no_secrets() {
    let (_, _, content, _) = small_world();
    let s = format!("{content:?}");
    assert!(s.contains("UnidentifiedSenderMessageContent"));
    assert!(!s.contains("inner"));
    let e = SealedSenderError::Certificate(CertificateError::Expired);
    assert_eq!(e.to_string(), "sealed sender: sender certificate expired");
}
