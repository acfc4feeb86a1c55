/*
 * 1:1 sessions through the C API, the way an app uses it: records loaded from its
 * database, one change set committed per operation. v4 both ways, out of order, prekey
 * message needs, change-set contents, last-resort Kyber replay, identity changes and the
 * receive policy, v3 through the legacy entry points, session reset and expiry, and bad
 * input: errors, and the database byte-identical afterwards.
 */
#include "support.h"

#define ALICE "9d0652a3-dcc3-4d11-975f-74d61598733f"
#define BOB "796abedb-ca4e-4f18-8803-1fde5b921f9f"
#define T0 1780000000000ULL

static void free_sent(Sent *s) { missive_buffer_free(&s->body); }

static void full_v4_session(void) {
    Party alice, bob;
    party_init(&alice, ALICE, 1, 1111);
    party_init(&bob, BOB, 1, 2222);

    MissivePreKeyBundle *bundle = party_publish(&bob, 1, 1, 0);
    /* Alice processes Bob's bundle: trust on first use. */
    {
        MissiveRecords *records = NULL;
        MissiveChanges *changes = NULL;
        MissiveIdentityChange change = MISSIVE_IDENTITY_REPLACED;
        bool present, replaced, empty;
        uint8_t stored[33], bob_key[33];
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&alice.db, records, &bob.address);
        CHECK_OK(missive_session_process_bundle(alice.device, NULL, &bob.address, records, bundle,
                                                T0, &change, &changes));
        CHECK(change == MISSIVE_IDENTITY_NEW);
        CHECK_OK(missive_changes_is_empty(changes, &empty));
        CHECK(!empty);
        CHECK_OK(missive_changes_identity(changes, &present, stored, 33, &replaced, NULL, 0));
        CHECK(present && !replaced);
        CHECK_OK(missive_identity_key_pair_public_key(bob.identity, bob_key, 33));
        CHECK(memcmp(stored, bob_key, 33) == 0);
        CHECK(db_commit(&alice.db, &bob.address, changes));
        missive_changes_free(&changes);
        missive_records_free(&records);
    }
    missive_pre_key_bundle_free(&bundle);

    /* Two prekey messages before Bob answers. */
    Sent m1 = party_encrypt(&alice, &bob, "hello Bob");
    Sent m2 = party_encrypt(&alice, &bob, "are you there?");
    CHECK(m1.type == MISSIVE_MESSAGE_PREKEY && m2.type == MISSIVE_MESSAGE_PREKEY);

    /* What the first one needs: the keys Bob published (id 1). */
    MissivePreKeyNeeds needs;
    CHECK_OK(missive_prekey_message_needs(m1.body.data, m1.body.len, &needs));
    CHECK(needs.version == 4 && needs.has_pre_key && needs.pre_key_id == 1);
    CHECK(needs.signed_pre_key_id == 1 && needs.has_kyber_pre_key && needs.kyber_pre_key_id == 1);
    CHECK(needs.base_key[0] == 0x05);

    /* Bob decrypts it: a new session; the change set deletes the one-time prekey and the
     * one-time Kyber prekey, stores Alice's identity and the new session. */
    {
        MissiveRecords *records = NULL;
        MissiveChanges *changes = NULL;
        MissiveDecrypted *d = NULL;
        bool present, replaced, is_new;
        uint32_t id;
        MissiveKyberPreKeyUse use;
        MissiveIdentityChange change;
        uint8_t sender[33], alice_key[33];
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&bob.db, records, &alice.address);
        db_load_prekeys_for(&bob.db, records, m1.body.data, m1.body.len);
        CHECK_OK(missive_session_decrypt(bob.device, NULL, &alice.address, records, m1.type,
                                         m1.body.data, m1.body.len, &d, &changes));
        check_plaintext(d, "hello Bob");
        CHECK_OK(missive_decrypted_new_session(d, &is_new));
        CHECK(is_new);
        CHECK_OK(missive_decrypted_identity_change(d, &change, NULL, 0));
        CHECK(change == MISSIVE_IDENTITY_NEW);
        CHECK_OK(missive_decrypted_sender_identity(d, sender, 33));
        CHECK_OK(missive_identity_key_pair_public_key(alice.identity, alice_key, 33));
        CHECK(memcmp(sender, alice_key, 33) == 0);
        CHECK_OK(missive_changes_consumed_pre_key(changes, &present, &id));
        CHECK(present && id == 1);
        CHECK_OK(missive_changes_kyber_pre_key_use(changes, &present, &use));
        CHECK(present && use.kyber_pre_key_id == 1 && use.signed_pre_key_id == 1 &&
              !use.last_resort);
        CHECK(memcmp(use.base_key, needs.base_key, 33) == 0);
        uint8_t identity[33];
        CHECK_OK(missive_changes_identity(changes, &present, identity, 33, &replaced, NULL, 0));
        CHECK(present && !replaced && memcmp(identity, alice_key, 33) == 0);
        size_t count;
        CHECK_OK(missive_changes_sender_key_count(changes, &count));
        CHECK(count == 0);
        CHECK(db_commit(&bob.db, &alice.address, changes));
        size_t n;
        CHECK(db_get(&bob.db, "pre_key/1", &n) == NULL);
        CHECK(db_get(&bob.db, "kyber_pre_key/1", &n) == NULL);
        CHECK(db_get(&bob.db, "signed_pre_key/1", &n) != NULL);
        missive_decrypted_free(&d);
        missive_changes_free(&changes);
        missive_records_free(&records);
    }
    /* The second prekey message goes to the same session (its prekeys are gone now). */
    {
        MissiveDecrypted *d = NULL;
        bool is_new;
        CHECK_OK(party_decrypt(&bob, &alice, &m2, &d));
        check_plaintext(d, "are you there?");
        CHECK_OK(missive_decrypted_new_session(d, &is_new));
        CHECK(!is_new);
        missive_decrypted_free(&d);
    }

    /* Bob answers; from then on Alice sends ordinary messages. */
    Sent r1 = party_encrypt(&bob, &alice, "yes, hi Alice");
    CHECK(r1.type == MISSIVE_MESSAGE_WHISPER);
    expect_message(&alice, &bob, &r1, "yes, hi Alice");
    Sent a1 = party_encrypt(&alice, &bob, "one");
    Sent a2 = party_encrypt(&alice, &bob, "two");
    Sent a3 = party_encrypt(&alice, &bob, "three");
    CHECK(a1.type == MISSIVE_MESSAGE_WHISPER);
    /* Out of order: the skipped keys are kept in the record Bob's database holds. */
    expect_message(&bob, &alice, &a3, "three");
    expect_message(&bob, &alice, &a1, "one");
    expect_message(&bob, &alice, &a2, "two");
    /* An empty message is a message. */
    Sent e = party_encrypt(&bob, &alice, "");
    expect_message(&alice, &bob, &e, "");

    /* The session record, as Bob stored it. */
    {
        char key[DB_KEY];
        size_t len;
        key_of_address(key, "session", &alice.address);
        const uint8_t *bytes = db_get(&bob.db, key, &len);
        CHECK(bytes != NULL);
        MissiveSessionRecord *rec = NULL;
        bool usable;
        uint32_t v, reg;
        size_t archived;
        uint8_t remote[33], alice_key[33];
        CHECK_OK(missive_session_record_deserialize(bytes, len, &rec));
        CHECK_OK(missive_session_record_has_usable_sender_chain(rec, T0, &usable));
        CHECK(usable);
        CHECK_OK(missive_session_record_version(rec, &v));
        CHECK(v == 4);
        CHECK_OK(missive_session_record_remote_registration_id(rec, &reg));
        CHECK(reg == 1111);
        CHECK_OK(missive_session_record_remote_identity(rec, remote, 33));
        CHECK_OK(missive_identity_key_pair_public_key(alice.identity, alice_key, 33));
        CHECK(memcmp(remote, alice_key, 33) == 0);
        CHECK_OK(missive_session_record_archived_count(rec, &archived));
        CHECK(archived == 0);
        MissiveBuffer again;
        CHECK_OK(missive_session_record_serialize(rec, &again));
        CHECK(again.len == len && memcmp(again.data, bytes, len) == 0);
        missive_buffer_free(&again);
        missive_session_record_free(&rec);
        /* Truncated records are refused. */
        for (size_t cut = 0; cut < len; cut += 5) {
            CHECK(missive_session_record_deserialize(bytes, cut, &rec) != MISSIVE_OK);
            CHECK(rec == NULL);
        }
    }

    free_sent(&m1);
    free_sent(&m2);
    free_sent(&r1);
    free_sent(&a1);
    free_sent(&a2);
    free_sent(&a3);
    free_sent(&e);
    party_free(&alice);
    party_free(&bob);
}

/* A live pair with a session both ways. */
static void pair(Party *alice, Party *bob) {
    party_init(alice, ALICE, 1, 1111);
    party_init(bob, BOB, 1, 2222);
    MissivePreKeyBundle *bundle = party_publish(bob, 1, 1, 0);
    party_start_session(alice, bob, bundle);
    missive_pre_key_bundle_free(&bundle);
    Sent m = party_encrypt(alice, bob, "hi");
    expect_message(bob, alice, &m, "hi");
    Sent r = party_encrypt(bob, alice, "hello");
    expect_message(alice, bob, &r, "hello");
    free_sent(&m);
    free_sent(&r);
}

static MissiveStatus decrypt_with(Party *to, Party *from, MissiveRecords *records, uint32_t type,
                                  const uint8_t *msg, size_t len) {
    MissiveDecrypted *d = (MissiveDecrypted *)&len; /* stale: a failure must clear it */
    MissiveChanges *c = (MissiveChanges *)&len;
    MissiveStatus st =
        missive_session_decrypt(to->device, NULL, &from->address, records, type, msg, len, &d, &c);
    if (st != MISSIVE_OK) {
        CHECK(d == NULL && c == NULL);
    }
    missive_decrypted_free(&d);
    missive_changes_free(&c);
    return st;
}

static void bad_input_changes_nothing(void) {
    Party alice, bob;
    pair(&alice, &bob);
    Sent m = party_encrypt(&alice, &bob, "the real message");

    DbSnapshot before;
    db_snapshot(&bob.db, &before);
    MissiveRecords *records = NULL;
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&bob.db, records, &alice.address);

    /* Every truncation, every third bit flip, garbage, the wrong type: an error each time,
     * and the same records stay usable. Nothing is committed, so the database cannot
     * change; the records object is only read. */
    uint8_t *copy = (uint8_t *)malloc(m.body.len);
    CHECK(copy != NULL);
    for (size_t n = 0; n < m.body.len; n++) {
        CHECK(decrypt_with(&bob, &alice, records, m.type, m.body.data, n) != MISSIVE_OK);
    }
    for (size_t bit = 0; bit < m.body.len * 8; bit += 3) {
        memcpy(copy, m.body.data, m.body.len);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(decrypt_with(&bob, &alice, records, m.type, copy, m.body.len) != MISSIVE_OK);
    }
    memset(copy, 0x33, m.body.len);
    CHECK(decrypt_with(&bob, &alice, records, m.type, copy, m.body.len) != MISSIVE_OK);
    CHECK(decrypt_with(&bob, &alice, records, MISSIVE_MESSAGE_PREKEY, m.body.data, m.body.len) !=
          MISSIVE_OK);
    free(copy);
    CHECK(db_equals_snapshot(&bob.db, &before));

    /* A forged MAC is "could not be decrypted", whatever the detail setting. */
    {
        uint8_t *forged = (uint8_t *)malloc(m.body.len);
        CHECK(forged != NULL);
        memcpy(forged, m.body.data, m.body.len);
        forged[m.body.len - 1] ^= 1;
        CHECK_STATUS(decrypt_with(&bob, &alice, records, m.type, forged, m.body.len),
                     MISSIVE_ERROR_DECRYPTION_FAILED);
        free(forged);
    }

    /* After all that, the real message decrypts with the same records. */
    {
        MissiveDecrypted *d = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(missive_session_decrypt(bob.device, NULL, &alice.address, records, m.type,
                                         m.body.data, m.body.len, &d, &c));
        check_plaintext(d, "the real message");
        CHECK(db_commit(&bob.db, &alice.address, c));
        missive_decrypted_free(&d);
        missive_changes_free(&c);
    }
    missive_records_free(&records);
    db_snapshot_free(&before);

    /* A duplicate: collapsed by default, precise with detailed errors; no change. */
    db_snapshot(&bob.db, &before);
    CHECK_STATUS(party_decrypt(&bob, &alice, &m, NULL), MISSIVE_ERROR_DECRYPTION_FAILED);
    CHECK_OK(missive_device_set_detailed_errors(bob.device, true));
    CHECK_STATUS(party_decrypt(&bob, &alice, &m, NULL), MISSIVE_ERROR_DUPLICATE_MESSAGE);
    CHECK_OK(missive_device_set_detailed_errors(bob.device, false));
    CHECK(db_equals_snapshot(&bob.db, &before));
    db_snapshot_free(&before);

    free_sent(&m);
    party_free(&alice);
    party_free(&bob);
}

static void records_must_be_loaded(void) {
    Party alice, bob;
    pair(&alice, &bob);
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    MissiveBuffer out;
    uint32_t type;
    char key[DB_KEY];
    size_t len;
    const uint8_t *v;

    /* Nothing loaded: encrypt must not treat it as "no session". */
    CHECK_OK(missive_records_new(&records));
    CHECK_STATUS(missive_session_encrypt(alice.device, NULL, &bob.address, records,
                                         (const uint8_t *)"x", 1, T0, &type, &out, &c),
                 MISSIVE_ERROR_RECORD_NOT_LOADED);
    CHECK(c == NULL && out.data == NULL);
    /* The session but not the identity. */
    key_of_address(key, "session", &bob.address);
    v = db_get(&alice.db, key, &len);
    CHECK_OK(missive_records_set_session(records, &bob.address, v, len));
    CHECK_STATUS(missive_session_encrypt(alice.device, NULL, &bob.address, records,
                                         (const uint8_t *)"x", 1, T0, &type, &out, &c),
                 MISSIVE_ERROR_RECORD_NOT_LOADED);
    missive_records_free(&records);
    /* A reset needs the record it resets. */
    CHECK_OK(missive_records_new(&records));
    CHECK_STATUS(missive_session_archive(alice.device, &bob.address, records, &c),
                 MISSIVE_ERROR_RECORD_NOT_LOADED);
    /* Records loaded for another peer do not count. */
    Party carol;
    party_init(&carol, "carol", 1, 3333);
    db_load_peer(&alice.db, records, &carol.address);
    CHECK_STATUS(missive_session_encrypt(alice.device, NULL, &bob.address, records,
                                         (const uint8_t *)"x", 1, T0, &type, &out, &c),
                 MISSIVE_ERROR_RECORD_NOT_LOADED);
    /* Declared absent: then there really is no session. */
    CHECK_STATUS(missive_session_encrypt(alice.device, NULL, &carol.address, records,
                                         (const uint8_t *)"x", 1, T0, &type, &out, &c),
                 MISSIVE_ERROR_NO_SESSION);
    missive_records_free(&records);
    party_free(&carol);
    party_free(&alice);
    party_free(&bob);
}

static void failed_commit_then_retry(void) {
    Party alice, bob;
    party_init(&alice, ALICE, 1, 1111);
    party_init(&bob, BOB, 1, 2222);
    MissivePreKeyBundle *bundle = party_publish(&bob, 1, 1, 0);
    party_start_session(&alice, &bob, bundle);
    missive_pre_key_bundle_free(&bundle);
    Sent m = party_encrypt(&alice, &bob, "first contact");

    /* Bob's transaction fails: nothing is written, his one-time prekeys are still there. */
    DbSnapshot before;
    db_snapshot(&bob.db, &before);
    bob.db.fail_next_commit = 1;
    {
        MissiveRecords *records = NULL;
        MissiveDecrypted *d = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&bob.db, records, &alice.address);
        db_load_prekeys_for(&bob.db, records, m.body.data, m.body.len);
        CHECK_OK(missive_session_decrypt(bob.device, NULL, &alice.address, records, m.type,
                                         m.body.data, m.body.len, &d, &c));
        CHECK(!db_commit(&bob.db, &alice.address, c)); /* the app's transaction fails */
        missive_decrypted_free(&d);
        missive_changes_free(&c);
        missive_records_free(&records);
    }
    CHECK(db_equals_snapshot(&bob.db, &before));
    size_t n;
    CHECK(db_get(&bob.db, "pre_key/1", &n) != NULL);
    /* The retry succeeds, as if the first attempt never happened. */
    expect_message(&bob, &alice, &m, "first contact");
    CHECK(db_get(&bob.db, "pre_key/1", &n) == NULL);
    db_snapshot_free(&before);
    free_sent(&m);
    party_free(&alice);
    party_free(&bob);
}

static void last_resort_kyber_and_unknown_prekeys(void) {
    Party alice, bob;
    party_init(&alice, ALICE, 1, 1111);
    party_init(&bob, BOB, 1, 2222);
    MissivePreKeyBundle *bundle = party_publish(&bob, 0, 1, 1); /* last-resort Kyber only */
    party_start_session(&alice, &bob, bundle);
    missive_pre_key_bundle_free(&bundle);
    Sent m = party_encrypt(&alice, &bob, "via last resort");

    /* The triple must be declared: a forgotten lookup is not "never used". */
    {
        MissiveRecords *records = NULL;
        MissiveDecrypted *d = NULL;
        MissiveChanges *c = NULL;
        MissivePreKeyNeeds needs;
        char key[DB_KEY];
        size_t len;
        const uint8_t *v;
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&bob.db, records, &alice.address);
        CHECK_OK(missive_prekey_message_needs(m.body.data, m.body.len, &needs));
        CHECK(!needs.has_pre_key && needs.has_kyber_pre_key);
        snprintf(key, sizeof key, "signed_pre_key/%u", needs.signed_pre_key_id);
        v = db_get(&bob.db, key, &len);
        CHECK_OK(missive_records_add_signed_pre_key(records, v, len));
        snprintf(key, sizeof key, "kyber_pre_key/%u", needs.kyber_pre_key_id);
        v = db_get(&bob.db, key, &len);
        CHECK_OK(missive_records_add_kyber_pre_key(records, v, len));
        CHECK_STATUS(missive_session_decrypt(bob.device, NULL, &alice.address, records, m.type,
                                             m.body.data, m.body.len, &d, &c),
                     MISSIVE_ERROR_RECORD_NOT_LOADED);
        missive_records_free(&records);
    }
    /* Decrypted: the change set records the last-resort use (the key is kept). */
    {
        MissiveRecords *records = NULL;
        MissiveDecrypted *d = NULL;
        MissiveChanges *c = NULL;
        MissiveKyberPreKeyUse use;
        bool present;
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&bob.db, records, &alice.address);
        db_load_prekeys_for(&bob.db, records, m.body.data, m.body.len);
        CHECK_OK(missive_session_decrypt(bob.device, NULL, &alice.address, records, m.type,
                                         m.body.data, m.body.len, &d, &c));
        CHECK_OK(missive_changes_kyber_pre_key_use(c, &present, &use));
        CHECK(present && use.last_resort);
        CHECK(db_commit(&bob.db, &alice.address, c));
        size_t n;
        CHECK(db_get(&bob.db, "kyber_pre_key/1", &n) != NULL);
        missive_decrypted_free(&d);
        missive_changes_free(&c);
        missive_records_free(&records);
    }
    /* Bob loses the session (say, a restore from backup without it): the replayed prekey
     * message must not build a second session from the same triple. */
    {
        char key[DB_KEY];
        key_of_address(key, "session", &alice.address);
        db_delete(&bob.db, key);
        DbSnapshot before;
        db_snapshot(&bob.db, &before);
        CHECK_STATUS(party_decrypt(&bob, &alice, &m, NULL), MISSIVE_ERROR_DECRYPTION_FAILED);
        CHECK_OK(missive_device_set_detailed_errors(bob.device, true));
        CHECK_STATUS(party_decrypt(&bob, &alice, &m, NULL), MISSIVE_ERROR_KYBER_PRE_KEY_REUSED);
        CHECK(db_equals_snapshot(&bob.db, &before));
        db_snapshot_free(&before);
    }
    free_sent(&m);

    /* A prekey message naming a one-time prekey Bob no longer has. */
    Party carol;
    party_init(&carol, "carol", 1, 3333);
    bundle = party_publish(&bob, 1, 1, 0);
    party_start_session(&carol, &bob, bundle);
    missive_pre_key_bundle_free(&bundle);
    Sent c1 = party_encrypt(&carol, &bob, "hi from carol");
    db_delete(&bob.db, "pre_key/2");
    CHECK_STATUS(party_decrypt(&bob, &carol, &c1, NULL), MISSIVE_ERROR_UNKNOWN_PRE_KEY);
    CHECK_OK(missive_device_set_detailed_errors(bob.device, false));
    CHECK_STATUS(party_decrypt(&bob, &carol, &c1, NULL), MISSIVE_ERROR_DECRYPTION_FAILED);
    free_sent(&c1);
    party_free(&carol);
    party_free(&alice);
    party_free(&bob);
}

static void identity_changes(void) {
    Party alice, bob;
    pair(&alice, &bob);
    uint8_t old_key[33], new_key[33];
    CHECK_OK(missive_identity_key_pair_public_key(alice.identity, old_key, 33));

    /* Alice reinstalls: same address, new identity, new session from a new bundle. */
    Party alice2;
    party_init(&alice2, ALICE, 1, 4444);
    CHECK_OK(missive_identity_key_pair_public_key(alice2.identity, new_key, 33));
    MissivePreKeyBundle *bundle = party_publish(&bob, 1, 1, 0);
    party_start_session(&alice2, &bob, bundle);
    Sent m = party_encrypt(&alice2, &bob, "it's me, new phone");

    /* Under REQUIRE_APPROVAL Bob refuses it, and nothing changes. */
    DbSnapshot before;
    db_snapshot(&bob.db, &before);
    CHECK_OK(missive_device_set_receive_policy(bob.device, MISSIVE_RECEIVE_REQUIRE_APPROVAL));
    CHECK_STATUS(party_decrypt(&bob, &alice2, &m, NULL), MISSIVE_ERROR_UNTRUSTED_IDENTITY);
    CHECK(db_equals_snapshot(&bob.db, &before));
    db_snapshot_free(&before);

    /* By default he accepts it and is told the safety number changed. */
    CHECK_OK(missive_device_set_receive_policy(bob.device, MISSIVE_RECEIVE_ACCEPT_CHANGES));
    {
        MissiveRecords *records = NULL;
        MissiveDecrypted *d = NULL;
        MissiveChanges *c = NULL;
        MissiveIdentityChange change;
        uint8_t previous[33], stored[33], prev2[33];
        bool present, replaced;
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&bob.db, records, &alice2.address);
        db_load_prekeys_for(&bob.db, records, m.body.data, m.body.len);
        CHECK_OK(missive_session_decrypt(bob.device, NULL, &alice2.address, records, m.type,
                                         m.body.data, m.body.len, &d, &c));
        CHECK_OK(missive_decrypted_identity_change(d, &change, previous, sizeof previous));
        CHECK(change == MISSIVE_IDENTITY_REPLACED);
        CHECK(memcmp(previous, old_key, 33) == 0);
        CHECK_STATUS(missive_decrypted_identity_change(d, &change, previous, 5),
                     MISSIVE_ERROR_INVALID_ARGUMENT);
        CHECK_OK(missive_changes_identity(c, &present, stored, 33, &replaced, prev2, 33));
        CHECK(present && replaced);
        CHECK(memcmp(stored, new_key, 33) == 0 && memcmp(prev2, old_key, 33) == 0);
        CHECK(db_commit(&bob.db, &alice2.address, c));
        missive_decrypted_free(&d);
        missive_changes_free(&c);
        missive_records_free(&records);
    }
    /* The old install's late message is refused (never rolls the identity back). */
    Sent late = party_encrypt(&alice, &bob, "from the old phone");
    db_snapshot(&bob.db, &before);
    CHECK(party_decrypt(&bob, &alice, &late, NULL) != MISSIVE_OK);
    CHECK(db_equals_snapshot(&bob.db, &before));
    db_snapshot_free(&before);
    /* Bob answers the new install. */
    Sent r = party_encrypt(&bob, &alice2, "welcome back");
    expect_message(&alice2, &bob, &r, "welcome back");

    /* Sending never follows a change by itself: Carol reinstalls, and Bob cannot start a
     * session with her new bundle until his app stores her new identity. */
    {
        Party carol, carol2;
        party_init(&carol, "carol", 1, 3333);
        party_init(&carol2, "carol", 1, 5555);
        MissivePreKeyBundle *cb = party_publish(&carol, 1, 1, 0);
        party_start_session(&bob, &carol, cb);
        missive_pre_key_bundle_free(&cb);
        cb = party_publish(&carol2, 1, 1, 0);
        MissiveRecords *records = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&bob.db, records, &carol.address);
        CHECK_STATUS(missive_session_process_bundle(bob.device, NULL, &carol.address, records, cb,
                                                    T0, NULL, &c),
                     MISSIVE_ERROR_UNTRUSTED_IDENTITY);
        CHECK(c == NULL);
        missive_records_free(&records);
        missive_pre_key_bundle_free(&cb);
        party_free(&carol);
        party_free(&carol2);
    }

    missive_pre_key_bundle_free(&bundle);
    free_sent(&m);
    free_sent(&late);
    free_sent(&r);
    party_free(&alice2);
    party_free(&alice);
    party_free(&bob);
}

static void legacy_v3(void) {
    Party alice, bob;
    party_init(&alice, "legacy-alice", 1, 1111);
    party_init(&bob, "legacy-bob", 1, 2222);
    MissivePreKeyBundle *bundle = party_publish(&bob, 1, 0, 0); /* no Kyber prekey */
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&alice.db, records, &bob.address);
    /* The v4 entry point refuses a v3 bundle (a server cannot downgrade us)... */
    CHECK_STATUS(missive_session_process_bundle(alice.device, NULL, &bob.address, records, bundle,
                                                T0, NULL, &c),
                 MISSIVE_ERROR_LEGACY_REFUSED);
    /* ...the legacy one takes it. */
    CHECK_OK(missive_session_process_legacy_bundle(alice.device, NULL, &bob.address, records,
                                                   bundle, T0, NULL, &c));
    CHECK(db_commit(&alice.db, &bob.address, c));
    missive_changes_free(&c);
    missive_records_free(&records);
    missive_pre_key_bundle_free(&bundle);

    Sent m = party_encrypt(&alice, &bob, "v3 hello");
    MissivePreKeyNeeds needs;
    CHECK_OK(missive_prekey_message_needs(m.body.data, m.body.len, &needs));
    CHECK(needs.version == 3 && !needs.has_kyber_pre_key);
    /* Refused by default, even with errors collapsed: it is a configuration matter. */
    CHECK_STATUS(party_decrypt(&bob, &alice, &m, NULL), MISSIVE_ERROR_LEGACY_REFUSED);
    CHECK_OK(missive_device_set_accept_legacy_x3dh(bob.device, true));
    expect_message(&bob, &alice, &m, "v3 hello");
    Sent r = party_encrypt(&bob, &alice, "v3 reply");
    expect_message(&alice, &bob, &r, "v3 reply");
    /* A v4 bundle on the legacy entry point is a caller error. */
    bundle = party_publish(&bob, 0, 1, 0);
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&alice.db, records, &bob.address);
    CHECK_STATUS(missive_session_process_legacy_bundle(alice.device, NULL, &bob.address, records,
                                                       bundle, T0, NULL, &c),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    missive_records_free(&records);
    missive_pre_key_bundle_free(&bundle);
    free_sent(&m);
    free_sent(&r);
    party_free(&alice);
    party_free(&bob);
}

static void reset_and_expiry(void) {
    Party alice, bob;
    pair(&alice, &bob);
    Sent late = party_encrypt(&bob, &alice, "sent before the reset");

    /* Alice resets the session. */
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    MissiveBuffer out;
    uint32_t type;
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&alice.db, records, &bob.address);
    CHECK_OK(missive_session_archive(alice.device, &bob.address, records, &c));
    CHECK(db_commit(&alice.db, &bob.address, c));
    missive_changes_free(&c);
    missive_records_free(&records);
    {
        char key[DB_KEY];
        size_t len, archived;
        bool usable;
        uint32_t v;
        key_of_address(key, "session", &bob.address);
        const uint8_t *bytes = db_get(&alice.db, key, &len);
        MissiveSessionRecord *rec = NULL;
        CHECK_OK(missive_session_record_deserialize(bytes, len, &rec));
        CHECK_OK(missive_session_record_has_usable_sender_chain(rec, T0, &usable));
        CHECK(!usable);
        CHECK_OK(missive_session_record_version(rec, &v));
        CHECK(v == 0);
        CHECK_OK(missive_session_record_archived_count(rec, &archived));
        CHECK(archived == 1);
        uint32_t reg;
        uint8_t k[33];
        CHECK_STATUS(missive_session_record_remote_registration_id(rec, &reg),
                     MISSIVE_ERROR_NO_SESSION);
        CHECK_STATUS(missive_session_record_remote_identity(rec, k, 33), MISSIVE_ERROR_NO_SESSION);
        missive_session_record_free(&rec);
    }
    /* No session to send on (not a decryption: the precise error). */
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&alice.db, records, &bob.address);
    CHECK_STATUS(missive_session_encrypt(alice.device, NULL, &bob.address, records,
                                         (const uint8_t *)"x", 1, T0, &type, &out, &c),
                 MISSIVE_ERROR_NO_SESSION);
    missive_records_free(&records);
    /* A late message on the old session still decrypts. */
    expect_message(&alice, &bob, &late, "sent before the reset");

    /* An unanswered session expires: Carol never answers Alice. */
    Party carol;
    party_init(&carol, "carol", 1, 3333);
    MissivePreKeyBundle *bundle = party_publish(&carol, 1, 1, 0);
    party_start_session(&alice, &carol, bundle);
    missive_pre_key_bundle_free(&bundle);
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&alice.db, records, &carol.address);
    CHECK_STATUS(missive_session_encrypt(alice.device, NULL, &carol.address, records,
                                         (const uint8_t *)"x", 1, T0 + 365ULL * 24 * 3600 * 1000,
                                         &type, &out, &c),
                 MISSIVE_ERROR_SESSION_EXPIRED);
    missive_records_free(&records);

    free_sent(&late);
    party_free(&carol);
    party_free(&alice);
    party_free(&bob);
}

/* The archive keeps what the device says: three sessions in turn, one archived. */
static void archive_size(void) {
    Party alice, bob;
    party_init(&alice, ALICE, 1, 1111);
    party_init(&bob, BOB, 1, 2222);
    CHECK_OK(missive_device_set_max_archived_sessions(alice.device, 1));
    for (int i = 0; i < 3; i++) {
        MissivePreKeyBundle *bundle = party_publish(&bob, 1, 1, 0);
        party_start_session(&alice, &bob, bundle);
        missive_pre_key_bundle_free(&bundle);
    }
    char key[DB_KEY];
    size_t len, archived;
    key_of_address(key, "session", &bob.address);
    const uint8_t *bytes = db_get(&alice.db, key, &len);
    MissiveSessionRecord *rec = NULL;
    CHECK_OK(missive_session_record_deserialize(bytes, len, &rec));
    CHECK_OK(missive_session_record_archived_count(rec, &archived));
    CHECK(archived == 1);
    missive_session_record_free(&rec);
    /* With the default (40), the same three sessions leave two archived. */
    Party carol;
    party_init(&carol, "carol", 1, 3333);
    for (int i = 0; i < 3; i++) {
        MissivePreKeyBundle *bundle = party_publish(&bob, 1, 1, 0);
        party_start_session(&carol, &bob, bundle);
        missive_pre_key_bundle_free(&bundle);
    }
    bytes = db_get(&carol.db, key, &len);
    CHECK_OK(missive_session_record_deserialize(bytes, len, &rec));
    CHECK_OK(missive_session_record_archived_count(rec, &archived));
    CHECK(archived == 2);
    missive_session_record_free(&rec);
    party_free(&carol);
    party_free(&alice);
    party_free(&bob);
}

/* An app that keeps one MissiveRecords as a cache applies each committed change set. */
static void cached_records(void) {
    Party alice, bob;
    pair(&alice, &bob);
    MissiveRecords *cache = NULL;
    CHECK_OK(missive_records_new(&cache));
    db_load_peer(&bob.db, cache, &alice.address);
    for (int i = 0; i < 5; i++) {
        char text[32];
        snprintf(text, sizeof text, "message %d", i);
        Sent m = party_encrypt(&alice, &bob, text);
        MissiveDecrypted *d = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(missive_session_decrypt(bob.device, NULL, &alice.address, cache, m.type,
                                         m.body.data, m.body.len, &d, &c));
        check_plaintext(d, text);
        CHECK(db_commit(&bob.db, &alice.address, c));
        CHECK_OK(missive_records_apply(cache, c));
        /* The cache now matches the database: a freshly loaded record gives the same
         * next result; and the message is a duplicate for both. */
        CHECK_STATUS(decrypt_with(&bob, &alice, cache, m.type, m.body.data, m.body.len),
                     MISSIVE_ERROR_DECRYPTION_FAILED);
        CHECK_STATUS(party_decrypt(&bob, &alice, &m, NULL), MISSIVE_ERROR_DECRYPTION_FAILED);
        missive_decrypted_free(&d);
        missive_changes_free(&c);
        free_sent(&m);
    }
    missive_records_free(&cache);
    party_free(&alice);
    party_free(&bob);
}

int main(void) {
    full_v4_session();
    bad_input_changes_nothing();
    records_must_be_loaded();
    failed_commit_then_retry();
    last_resort_kyber_and_unknown_prekeys();
    identity_changes();
    legacy_v3();
    reset_and_expiry();
    archive_size();
    cached_records();
    support_done("test_session");
    return 0;
}
