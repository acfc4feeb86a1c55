//! Typed wrappers for the sender-key (group) commands of `driver/client.js`.
//!
//! Distribution ids are passed as UUID strings; a party's sending record is stored under
//! its own address, so `sk_record`/`set_sk_record` with the party's own name and device
//! reach it (setting it to `None` makes the next distribution start a new chain).

use serde_json::{Value, json};

use crate::PeerError;
use crate::peer::Peer;
use crate::types::{get_bytes, opt_bytes};

impl Peer {
    /// `SenderKeyDistributionMessage.create` for the party's own address: its serialized
    /// distribution message (a new chain if it has none).
    pub fn sk_distribution(
        &mut self,
        party: &str,
        distribution_id: &str,
    ) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "sk_distribution",
            json!({"party": party, "distribution_id": distribution_id}),
        )?;
        get_bytes(&r, "message")
    }

    /// `processSenderKeyDistributionMessage` from `(sender_name, sender_device)`.
    pub fn sk_process(
        &mut self,
        party: &str,
        sender_name: &str,
        sender_device: u32,
        message: &[u8],
    ) -> Result<(), PeerError> {
        self.call(
            "sk_process",
            json!({"party": party, "sender_name": sender_name, "sender_device": sender_device,
                   "message": hex::encode(message)}),
        )?;
        Ok(())
    }

    /// `groupEncrypt` as the party: the serialized `SenderKeyMessage`.
    pub fn group_encrypt(
        &mut self,
        party: &str,
        distribution_id: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "group_encrypt",
            json!({"party": party, "distribution_id": distribution_id,
                   "plaintext": hex::encode(plaintext)}),
        )?;
        if r.get("type").and_then(Value::as_u64) != Some(7) {
            return Err(PeerError::Driver(
                "group_encrypt: not a SenderKey message".into(),
            ));
        }
        get_bytes(&r, "body")
    }

    /// Encrypts `count` group messages and throws them away (skips iterations).
    pub fn group_encrypt_discard(
        &mut self,
        party: &str,
        distribution_id: &str,
        count: u32,
    ) -> Result<(), PeerError> {
        self.call(
            "group_encrypt_discard",
            json!({"party": party, "distribution_id": distribution_id, "count": count}),
        )?;
        Ok(())
    }

    /// `groupDecrypt` of a message from `(sender_name, sender_device)`.
    pub fn group_decrypt(
        &mut self,
        party: &str,
        sender_name: &str,
        sender_device: u32,
        body: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "group_decrypt",
            json!({"party": party, "sender_name": sender_name, "sender_device": sender_device,
                   "body": hex::encode(body)}),
        )?;
        get_bytes(&r, "plaintext")
    }

    /// The party's serialized `SenderKeyRecord` for a sender and distribution id.
    pub fn sk_record(
        &mut self,
        party: &str,
        sender_name: &str,
        sender_device: u32,
        distribution_id: &str,
    ) -> Result<Option<Vec<u8>>, PeerError> {
        let r = self.call(
            "sk_record",
            json!({"party": party, "sender_name": sender_name, "sender_device": sender_device,
                   "distribution_id": distribution_id}),
        )?;
        opt_bytes(&r, "record")
    }

    /// Replaces (or, with `None`, deletes) the party's record for a sender and
    /// distribution id.
    pub fn set_sk_record(
        &mut self,
        party: &str,
        sender_name: &str,
        sender_device: u32,
        distribution_id: &str,
        record: Option<&[u8]>,
    ) -> Result<(), PeerError> {
        self.call(
            "set_sk_record",
            json!({"party": party, "sender_name": sender_name, "sender_device": sender_device,
                   "distribution_id": distribution_id, "record": record.map(hex::encode)}),
        )?;
        Ok(())
    }
}
