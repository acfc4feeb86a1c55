/*
 * Sender-key groups through the C API: distribution over 1:1 sessions (the member is
 * the sender the 1:1 session authenticated), group encryption and decryption, a backlog
 * decrypted in one batch (mixed with garbage, a duplicate and a forgery), rotation after
 * a member leaves, and bad input leaving every record as it was.
 */
#include "support.h"

#define ALICE "9d0652a3-dcc3-4d11-975f-74d61598733f"
#define BOB "796abedb-ca4e-4f18-8803-1fde5b921f9f"
#define CAROL "e4d5c1a9-61b3-4f4c-9d59-2a0c0e6b8a11"

static const uint8_t GROUP[16] = {0x5a, 0x1d, 0xe0, 0x11, 0x42, 0x42, 0x4b, 0x31,
                                  0x9e, 0x0c, 0x7d, 0x21, 0xaa, 0x03, 0x19, 0x77};

static void free_sent(Sent *s) { missive_buffer_free(&s->body); }

static void connect(Party *a, Party *b) {
    MissivePreKeyBundle *bundle = party_publish(b, 1, 1, 0);
    party_start_session(a, b, bundle);
    missive_pre_key_bundle_free(&bundle);
    Sent m = party_encrypt(a, b, "hi");
    expect_message(b, a, &m, "hi");
    Sent r = party_encrypt(b, a, "hi back");
    expect_message(a, b, &r, "hi back");
    free_sent(&m);
    free_sent(&r);
}

/* `p`'s distribution message for GROUP (a new chain the first time). */
static MissiveBuffer distribution_of(Party *p, MissiveStatus (*op)(const MissiveDevice *,
                                                                   const MissiveRng *,
                                                                   const MissiveRecords *,
                                                                   const uint8_t *, size_t,
                                                                   MissiveBuffer *,
                                                                   MissiveChanges **)) {
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    MissiveBuffer skdm;
    CHECK_OK(missive_records_new(&records));
    db_load_sender_key(&p->db, records, &p->address, GROUP);
    CHECK_OK(op(p->device, NULL, records, GROUP, sizeof GROUP, &skdm, &c));
    CHECK(db_commit(&p->db, NULL, c));
    missive_changes_free(&c);
    missive_records_free(&records);
    return skdm;
}

/* `from` sends its distribution message to `to` inside their 1:1 session; `to` processes
 * it with the sender that session authenticated. */
static void distribute(Party *from, Party *to, const MissiveBuffer *skdm) {
    Sent m;
    {
        MissiveRecords *records = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(missive_records_new(&records));
        db_load_peer(&from->db, records, &to->address);
        CHECK_OK(missive_session_encrypt(from->device, NULL, &to->address, records, skdm->data,
                                         skdm->len, 1780000000000ULL, &m.type, &m.body, &c));
        CHECK(db_commit(&from->db, &to->address, c));
        missive_changes_free(&c);
        missive_records_free(&records);
    }
    MissiveDecrypted *d = NULL;
    CHECK_OK(party_decrypt(to, from, &m, &d));
    MissiveBuffer plain;
    CHECK_OK(missive_decrypted_plaintext(d, &plain));
    uint8_t dist[16];
    CHECK_OK(missive_sender_key_distribution_message_distribution_id(plain.data, plain.len, dist,
                                                                    sizeof dist));
    CHECK(memcmp(dist, GROUP, 16) == 0);
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    CHECK_OK(missive_records_new(&records));
    /* The record of (sender, distribution id) must be loaded: not loaded is an error,
     * not an empty record that would overwrite the member's chains. */
    CHECK_STATUS(missive_group_process_distribution(to->device, records, d, plain.data, plain.len,
                                                    &c),
                 MISSIVE_ERROR_RECORD_NOT_LOADED);
    db_load_sender_key(&to->db, records, &from->address, GROUP);
    CHECK_OK(missive_group_process_distribution(to->device, records, d, plain.data, plain.len, &c));
    size_t count;
    CHECK_OK(missive_changes_sender_key_count(c, &count));
    CHECK(count == 1);
    CHECK(db_commit(&to->db, NULL, c));
    missive_changes_free(&c);
    missive_records_free(&records);
    missive_buffer_free(&plain);
    missive_decrypted_free(&d);
    free_sent(&m);
}

static MissiveBuffer group_send(Party *p, const char *text) {
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    MissiveBuffer msg;
    CHECK_OK(missive_records_new(&records));
    db_load_sender_key(&p->db, records, &p->address, GROUP);
    CHECK_OK(missive_group_encrypt(p->device, NULL, records, GROUP, sizeof GROUP,
                                   (const uint8_t *)text, strlen(text), &msg, &c));
    CHECK(db_commit(&p->db, NULL, c));
    missive_changes_free(&c);
    missive_records_free(&records);
    uint8_t dist[16];
    CHECK_OK(missive_sender_key_message_distribution_id(msg.data, msg.len, dist, sizeof dist));
    CHECK(memcmp(dist, GROUP, 16) == 0);
    return msg;
}

static MissiveStatus group_receive(Party *to, Party *from, const uint8_t *msg, size_t len,
                                   MissiveBuffer *plain) {
    MissiveRecords *records = NULL;
    MissiveChanges *c = NULL;
    uint8_t dist[16];
    CHECK_OK(missive_records_new(&records));
    if (missive_sender_key_message_distribution_id(msg, len, dist, sizeof dist) == MISSIVE_OK) {
        db_load_sender_key(&to->db, records, &from->address, dist);
    }
    MissiveStatus st =
        missive_group_decrypt(to->device, records, &from->address, msg, len, plain, &c);
    if (st == MISSIVE_OK) {
        CHECK(db_commit(&to->db, NULL, c));
    } else {
        CHECK(c == NULL && plain->data == NULL);
    }
    missive_changes_free(&c);
    missive_records_free(&records);
    return st;
}

static void expect_group(Party *to, Party *from, const MissiveBuffer *msg, const char *text) {
    MissiveBuffer plain;
    CHECK_OK(group_receive(to, from, msg->data, msg->len, &plain));
    CHECK(plain.len == strlen(text) && memcmp(plain.data, text, plain.len) == 0);
    missive_buffer_free(&plain);
}

int main(void) {
    Party alice, bob, carol;
    party_init(&alice, ALICE, 1, 1111);
    party_init(&bob, BOB, 1, 2222);
    party_init(&carol, CAROL, 1, 3333);
    connect(&alice, &bob);
    connect(&alice, &carol);
    connect(&bob, &carol);

    /* No chain of ours yet: group encryption is refused (a caller error). */
    {
        MissiveRecords *records = NULL;
        MissiveChanges *c = NULL;
        MissiveBuffer msg;
        CHECK_OK(missive_records_new(&records));
        CHECK_STATUS(missive_group_encrypt(alice.device, NULL, records, GROUP, 16,
                                           (const uint8_t *)"x", 1, &msg, &c),
                     MISSIVE_ERROR_RECORD_NOT_LOADED);
        db_load_sender_key(&alice.db, records, &alice.address, GROUP);
        CHECK_STATUS(missive_group_encrypt(alice.device, NULL, records, GROUP, 16,
                                           (const uint8_t *)"x", 1, &msg, &c),
                     MISSIVE_ERROR_INVALID_STATE);
        CHECK_STATUS(missive_group_create_distribution(alice.device, NULL, records, GROUP, 15,
                                                       &msg, &c),
                     MISSIVE_ERROR_INVALID_ARGUMENT);
        missive_records_free(&records);
    }

    /* Everyone makes a chain; the change set is our own record, under our own address. */
    MissiveBuffer skdm_a = distribution_of(&alice, missive_group_create_distribution);
    MissiveBuffer skdm_b = distribution_of(&bob, missive_group_create_distribution);
    MissiveBuffer skdm_c = distribution_of(&carol, missive_group_create_distribution);
    {
        /* Asked again, the same chain is described and nothing is written. */
        MissiveRecords *records = NULL;
        MissiveChanges *c = NULL;
        MissiveBuffer again;
        bool empty;
        CHECK_OK(missive_records_new(&records));
        db_load_sender_key(&alice.db, records, &alice.address, GROUP);
        CHECK_OK(missive_group_create_distribution(alice.device, NULL, records, GROUP, 16, &again,
                                                   &c));
        CHECK(again.len == skdm_a.len && memcmp(again.data, skdm_a.data, again.len) == 0);
        CHECK_OK(missive_changes_is_empty(c, &empty));
        CHECK(empty);
        missive_buffer_free(&again);
        missive_changes_free(&c);
        missive_records_free(&records);
    }
    distribute(&alice, &bob, &skdm_a);
    distribute(&alice, &carol, &skdm_a);
    distribute(&bob, &alice, &skdm_b);
    distribute(&bob, &carol, &skdm_b);
    distribute(&carol, &alice, &skdm_c);
    distribute(&carol, &bob, &skdm_c);

    /* One message, read by everyone else. */
    MissiveBuffer g1 = group_send(&alice, "hello group");
    expect_group(&bob, &alice, &g1, "hello group");
    expect_group(&carol, &alice, &g1, "hello group");

    /* A duplicate: collapsed by default, precise on request; nothing written. */
    {
        MissiveBuffer plain;
        DbSnapshot before;
        db_snapshot(&bob.db, &before);
        CHECK_STATUS(group_receive(&bob, &alice, g1.data, g1.len, &plain),
                     MISSIVE_ERROR_DECRYPTION_FAILED);
        CHECK_OK(missive_device_set_detailed_errors(bob.device, true));
        CHECK_STATUS(group_receive(&bob, &alice, g1.data, g1.len, &plain),
                     MISSIVE_ERROR_DUPLICATE_MESSAGE);
        /* A message from someone whose chain Bob does not hold. */
        Party dave;
        party_init(&dave, "dave", 1, 4444);
        CHECK_STATUS(group_receive(&bob, &dave, g1.data, g1.len, &plain),
                     MISSIVE_ERROR_NO_SENDER_KEY_STATE);
        party_free(&dave);
        CHECK_OK(missive_device_set_detailed_errors(bob.device, false));
        CHECK(db_equals_snapshot(&bob.db, &before));
        db_snapshot_free(&before);
    }

    /* Bad input: every truncation and every 7th bit flip of a fresh message is refused,
     * Carol's records stay as they were, and then the real message decrypts. */
    {
        MissiveBuffer g2 = group_send(&bob, "second");
        DbSnapshot before;
        db_snapshot(&carol.db, &before);
        uint8_t *copy = (uint8_t *)malloc(g2.len);
        CHECK(copy != NULL);
        MissiveBuffer plain;
        for (size_t n = 0; n < g2.len; n++) {
            CHECK(group_receive(&carol, &bob, g2.data, n, &plain) != MISSIVE_OK);
        }
        for (size_t bit = 0; bit < g2.len * 8; bit += 7) {
            memcpy(copy, g2.data, g2.len);
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            CHECK(group_receive(&carol, &bob, copy, g2.len, &plain) != MISSIVE_OK);
        }
        free(copy);
        CHECK(db_equals_snapshot(&carol.db, &before));
        db_snapshot_free(&before);
        expect_group(&carol, &bob, &g2, "second");
        expect_group(&alice, &bob, &g2, "second");
        missive_buffer_free(&g2);
    }

    /* A backlog, in one batch: Bob's three and Carol's two messages, with garbage, a
     * duplicate and a forged signature among them. */
    {
        MissiveBuffer b1 = group_send(&bob, "b1"), b2 = group_send(&bob, "b2"),
                      b3 = group_send(&bob, "b3");
        MissiveBuffer c1 = group_send(&carol, "c1"), c2 = group_send(&carol, "c2");
        uint8_t *forged = (uint8_t *)malloc(b3.len);
        CHECK(forged != NULL);
        memcpy(forged, b3.data, b3.len);
        forged[b3.len - 1] ^= 0x40; /* inside the signature */
        static const uint8_t garbage[] = {0x33, 0x0a, 0x01};
        MissiveGroupMessage batch[8] = {
            {bob.address, b1.data, b1.len},   {carol.address, c1.data, c1.len},
            {bob.address, garbage, 3},        {bob.address, forged, b3.len},
            {bob.address, b2.data, b2.len},   {bob.address, b1.data, b1.len},
            {bob.address, b3.data, b3.len},   {carol.address, c2.data, c2.len},
        };
        MissiveGroupResult results[8];
        MissiveRecords *records = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(missive_records_new(&records));
        /* Every (sender, distribution id) the batch names. */
        db_load_sender_key(&alice.db, records, &bob.address, GROUP);
        db_load_sender_key(&alice.db, records, &carol.address, GROUP);
        CHECK_OK(missive_group_decrypt_batch(alice.device, records, batch, 8, results, &c));
        const char *expected[8] = {"b1", "c1", NULL, NULL, "b2", NULL, "b3", "c2"};
        for (int i = 0; i < 8; i++) {
            if (expected[i] != NULL) {
                CHECK_OK(results[i].status);
                CHECK(results[i].plaintext.len == strlen(expected[i]));
                CHECK(memcmp(results[i].plaintext.data, expected[i], 2) == 0);
            } else {
                CHECK(results[i].status != MISSIVE_OK && results[i].plaintext.data == NULL);
            }
            missive_buffer_free(&results[i].plaintext);
        }
        CHECK(results[2].status >= MISSIVE_ERROR_DECODE_TRUNCATED &&
              results[2].status <= MISSIVE_ERROR_DECODE_INVALID_KEY);
        CHECK_STATUS(results[3].status, MISSIVE_ERROR_DECRYPTION_FAILED); /* forged */
        CHECK_STATUS(results[5].status, MISSIVE_ERROR_DECRYPTION_FAILED); /* duplicate */
        /* One record per sender, committed together. */
        size_t count;
        CHECK_OK(missive_changes_sender_key_count(c, &count));
        CHECK(count == 2);
        {
            MissiveBuffer name, record;
            uint32_t device;
            uint8_t dist[16];
            CHECK_STATUS(missive_changes_sender_key(c, 2, &name, &device, dist, 16, &record),
                         MISSIVE_ERROR_INVALID_ARGUMENT);
            CHECK_OK(missive_changes_sender_key(c, 0, &name, &device, dist, 16, &record));
            CHECK(device == 1 && memcmp(dist, GROUP, 16) == 0 && record.len > 0);
            CHECK((name.len == strlen(BOB) && memcmp(name.data, BOB, name.len) == 0) ||
                  (name.len == strlen(CAROL) && memcmp(name.data, CAROL, name.len) == 0));
            missive_buffer_free(&name);
            missive_buffer_free(&record);
        }
        CHECK(db_commit(&alice.db, NULL, c));
        missive_changes_free(&c);

        /* With detail, the forgery is a bad signature. */
        CHECK_OK(missive_device_set_detailed_errors(alice.device, true));
        missive_records_free(&records);
        CHECK_OK(missive_records_new(&records));
        db_load_sender_key(&alice.db, records, &bob.address, GROUP);
        MissiveGroupMessage one[1] = {{bob.address, forged, b3.len}};
        CHECK_OK(missive_group_decrypt_batch(alice.device, records, one, 1, results, &c));
        CHECK_STATUS(results[0].status, MISSIVE_ERROR_BAD_SIGNATURE);
        missive_changes_free(&c);
        CHECK_OK(missive_device_set_detailed_errors(alice.device, false));
        /* An empty batch does nothing. */
        bool empty;
        CHECK_OK(missive_group_decrypt_batch(alice.device, records, NULL, 0, NULL, &c));
        CHECK_OK(missive_changes_is_empty(c, &empty));
        CHECK(empty);
        missive_changes_free(&c);
        missive_records_free(&records);

        /* Bob's messages, one by one on Carol's side, give the same plaintexts. */
        expect_group(&carol, &bob, &b1, "b1");
        expect_group(&carol, &bob, &b3, "b3");
        expect_group(&carol, &bob, &b2, "b2");
        free(forged);
        missive_buffer_free(&b1);
        missive_buffer_free(&b2);
        missive_buffer_free(&b3);
        missive_buffer_free(&c1);
        missive_buffer_free(&c2);
    }

    /* Carol leaves: Alice rotates and gives the new chain to Bob only. A message Alice
     * sent before still reads for Carol; the new ones do not. */
    {
        MissiveBuffer in_flight = group_send(&alice, "before rotation");
        MissiveBuffer skdm_new = distribution_of(&alice, missive_group_rotate);
        CHECK(skdm_new.len != skdm_a.len || memcmp(skdm_new.data, skdm_a.data, skdm_a.len) != 0);
        distribute(&alice, &bob, &skdm_new);
        MissiveBuffer after = group_send(&alice, "after rotation");
        expect_group(&bob, &alice, &after, "after rotation");
        expect_group(&bob, &alice, &in_flight, "before rotation");
        expect_group(&carol, &alice, &in_flight, "before rotation");
        MissiveBuffer plain;
        CHECK_STATUS(group_receive(&carol, &alice, after.data, after.len, &plain),
                     MISSIVE_ERROR_DECRYPTION_FAILED);
        CHECK_OK(missive_device_set_detailed_errors(carol.device, true));
        CHECK_STATUS(group_receive(&carol, &alice, after.data, after.len, &plain),
                     MISSIVE_ERROR_NO_SENDER_KEY_STATE);
        missive_buffer_free(&in_flight);
        missive_buffer_free(&skdm_new);
        missive_buffer_free(&after);
    }

    /* A distribution message that does not parse. */
    {
        Sent m = party_encrypt(&bob, &alice, "not a distribution message");
        MissiveDecrypted *d = NULL;
        MissiveRecords *records = NULL;
        MissiveChanges *c = NULL;
        CHECK_OK(party_decrypt(&alice, &bob, &m, &d));
        CHECK_OK(missive_records_new(&records));
        CHECK(missive_group_process_distribution(alice.device, records, d,
                                                 (const uint8_t *)"garbage", 7, &c) != MISSIVE_OK);
        CHECK(c == NULL);
        missive_records_free(&records);
        missive_decrypted_free(&d);
        free_sent(&m);
    }

    missive_buffer_free(&skdm_a);
    missive_buffer_free(&skdm_b);
    missive_buffer_free(&skdm_c);
    missive_buffer_free(&g1);
    party_free(&alice);
    party_free(&bob);
    party_free(&carol);
    support_done("test_group");
    return 0;
}
