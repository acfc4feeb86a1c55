/*
 * Shared helpers of missive's C tests: checks that report where they failed, a
 * deterministic RNG, and a tiny "database" with the one-transaction commit that the
 * records-in / change-set-out API asks of an app.
 *
 * Each test is a program: it exits 0 when every check passed. Built by .ci/ffi with
 * gcc -std=c11 -Wall -Wextra -Werror, run under valgrind and with ASan/UBSan.
 */
#ifndef MISSIVE_TEST_SUPPORT_H
#define MISSIVE_TEST_SUPPORT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "missive.h"

static int support_checks = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        support_checks++;                                                               \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define CHECK_STATUS(call, expected)                                                    \
    do {                                                                                \
        support_checks++;                                                               \
        MissiveStatus got_ = (call);                                                    \
        MissiveStatus want_ = (expected);                                               \
        if (got_ != want_) {                                                            \
            fprintf(stderr, "%s:%d: %s\n  returned %u (%s), expected %u (%s)\n",        \
                    __FILE__, __LINE__, #call, (unsigned)got_,                          \
                    missive_error_message(got_), (unsigned)want_,                       \
                    missive_error_message(want_));                                      \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, MISSIVE_OK)

static inline void support_done(const char *name) {
    printf("%s: %d checks passed\n", name, support_checks);
}

/* ---- a deterministic RNG (splitmix64), for reproducible keys ----------------------- */

typedef struct {
    uint64_t state;
    int fail_after; /* fail the call after this many bytes were asked for; -1: never */
    size_t given;
} TestRng;

static inline int32_t test_rng_fill(void *user, uint8_t *out, size_t len) {
    TestRng *r = (TestRng *)user;
    if (r->fail_after >= 0 && r->given + len > (size_t)r->fail_after) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        r->state += 0x9e3779b97f4a7c15ULL;
        uint64_t z = r->state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        out[i] = (uint8_t)(z ^ (z >> 31));
    }
    r->given += len;
    return 0;
}

static inline MissiveRng test_rng(TestRng *state, uint64_t seed) {
    state->state = seed;
    state->fail_after = -1;
    state->given = 0;
    MissiveRng rng = {test_rng_fill, state};
    return rng;
}

/* ---- a tiny database: rows of (key, bytes), and one-transaction commits --------------- */

#define DB_ROWS 128
#define DB_KEY 160

typedef struct {
    char key[DB_KEY];
    uint8_t *value;
    size_t len;
} Row;

typedef struct {
    Row rows[DB_ROWS];
    size_t count;
    int fail_next_commit; /* a test sets it: the next commit fails and writes nothing */
} Db;

static inline Row *db_find(Db *db, const char *key) {
    for (size_t i = 0; i < db->count; i++) {
        if (strcmp(db->rows[i].key, key) == 0) {
            return &db->rows[i];
        }
    }
    return NULL;
}

static inline const uint8_t *db_get(Db *db, const char *key, size_t *len) {
    Row *r = db_find(db, key);
    if (r == NULL) {
        *len = 0;
        return NULL;
    }
    *len = r->len;
    return r->value;
}

static inline void db_put(Db *db, const char *key, const uint8_t *value, size_t len) {
    Row *r = db_find(db, key);
    if (r == NULL) {
        CHECK(db->count < DB_ROWS);
        r = &db->rows[db->count++];
        snprintf(r->key, sizeof r->key, "%s", key);
    } else {
        memset(r->value, 0, r->len);
        free(r->value);
    }
    r->value = (uint8_t *)malloc(len ? len : 1);
    CHECK(r->value != NULL);
    memcpy(r->value, value, len);
    r->len = len;
}

static inline void db_delete(Db *db, const char *key) {
    Row *r = db_find(db, key);
    if (r == NULL) {
        return;
    }
    memset(r->value, 0, r->len);
    free(r->value);
    *r = db->rows[--db->count];
}

static inline void db_free(Db *db) {
    while (db->count > 0) {
        db_delete(db, db->rows[0].key);
    }
}

/* A copy of every row, to compare before and after a failed call. */
typedef struct {
    Db copy;
} DbSnapshot;

static inline void db_snapshot(Db *db, DbSnapshot *s) {
    memset(&s->copy, 0, sizeof s->copy);
    for (size_t i = 0; i < db->count; i++) {
        db_put(&s->copy, db->rows[i].key, db->rows[i].value, db->rows[i].len);
    }
}

static inline int db_equals_snapshot(Db *db, DbSnapshot *s) {
    if (db->count != s->copy.count) {
        return 0;
    }
    for (size_t i = 0; i < db->count; i++) {
        size_t len;
        const uint8_t *v = db_get(&s->copy, db->rows[i].key, &len);
        if (v == NULL || len != db->rows[i].len || memcmp(v, db->rows[i].value, len) != 0) {
            return 0;
        }
    }
    return 1;
}

static inline void db_snapshot_free(DbSnapshot *s) {
    db_free(&s->copy);
}

static inline void hex(char *out, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
    out[2 * n] = 0;
}

static inline void key_of_address(char *out, const char *kind, const MissiveAddress *a) {
    snprintf(out, DB_KEY, "%s/%.*s/%u", kind, (int)a->name_len, a->name, a->device_id);
}

static inline void key_of_sender_key(char *out, const MissiveAddress *a, const uint8_t *dist) {
    char h[33];
    hex(h, dist, 16);
    snprintf(out, DB_KEY, "sender_key/%.*s/%u/%s", (int)a->name_len, a->name, a->device_id, h);
}

static inline void key_of_kyber_triple(char *out, uint32_t kyber, uint32_t spk, const uint8_t *base) {
    char h[67];
    hex(h, base, 33);
    snprintf(out, DB_KEY, "kyber_used/%u/%u/%s", kyber, spk, h);
}

/* Loads the peer's session record and identity into `records` (or declares them
 * absent). */
static inline void db_load_peer(Db *db, MissiveRecords *records, const MissiveAddress *peer) {
    char key[DB_KEY];
    size_t len;
    const uint8_t *v;
    key_of_address(key, "session", peer);
    v = db_get(db, key, &len);
    CHECK_OK(missive_records_set_session(records, peer, v, len));
    key_of_address(key, "identity", peer);
    v = db_get(db, key, &len);
    CHECK_OK(missive_records_set_identity(records, peer, v, len));
}

static inline void db_load_sender_key(Db *db, MissiveRecords *records, const MissiveAddress *sender,
                               const uint8_t *dist) {
    char key[DB_KEY];
    size_t len;
    key_of_sender_key(key, sender, dist);
    const uint8_t *v = db_get(db, key, &len);
    CHECK_OK(missive_records_set_sender_key(records, sender, dist, 16, v, len));
}

/* Loads what a prekey message needs: the prekeys it names, and for the Kyber prekey
 * whether its triple was used. */
static inline void db_load_prekeys_for(Db *db, MissiveRecords *records, const uint8_t *msg, size_t len) {
    MissivePreKeyNeeds needs;
    char key[DB_KEY];
    size_t n;
    const uint8_t *v;
    CHECK_OK(missive_prekey_message_needs(msg, len, &needs));
    if (needs.has_pre_key) {
        snprintf(key, sizeof key, "pre_key/%u", needs.pre_key_id);
        if ((v = db_get(db, key, &n)) != NULL) {
            CHECK_OK(missive_records_add_pre_key(records, v, n));
        }
    }
    snprintf(key, sizeof key, "signed_pre_key/%u", needs.signed_pre_key_id);
    if ((v = db_get(db, key, &n)) != NULL) {
        CHECK_OK(missive_records_add_signed_pre_key(records, v, n));
    }
    if (needs.has_kyber_pre_key) {
        snprintf(key, sizeof key, "kyber_pre_key/%u", needs.kyber_pre_key_id);
        if ((v = db_get(db, key, &n)) != NULL) {
            CHECK_OK(missive_records_add_kyber_pre_key(records, v, n));
        }
        key_of_kyber_triple(key, needs.kyber_pre_key_id, needs.signed_pre_key_id, needs.base_key);
        int used = db_get(db, key, &n) != NULL;
        CHECK_OK(missive_records_set_kyber_triple_used(records, needs.kyber_pre_key_id,
                                                       needs.signed_pre_key_id, needs.base_key,
                                                       sizeof needs.base_key, used));
    }
}

/* Persists every write of `changes` for an operation on `peer` in one transaction: all
 * of it, or (when the test made the commit fail) none of it. Returns 1 if committed. */
static inline int db_commit(Db *db, const MissiveAddress *peer, const MissiveChanges *changes) {
    if (db->fail_next_commit) {
        db->fail_next_commit = 0;
        return 0;
    }
    char key[DB_KEY];
    bool present, replaced;
    MissiveBuffer buf;
    CHECK_OK(missive_changes_session(changes, &present, &buf));
    if (present) {
        CHECK(peer != NULL);
        key_of_address(key, "session", peer);
        db_put(db, key, buf.data, buf.len);
    }
    missive_buffer_free(&buf);

    uint8_t identity[MISSIVE_PUBLIC_KEY_LEN];
    CHECK_OK(missive_changes_identity(changes, &present, identity, sizeof identity, &replaced,
                                      NULL, 0));
    if (present) {
        CHECK(peer != NULL);
        key_of_address(key, "identity", peer);
        db_put(db, key, identity, sizeof identity);
    }

    uint32_t id;
    CHECK_OK(missive_changes_consumed_pre_key(changes, &present, &id));
    if (present) {
        snprintf(key, sizeof key, "pre_key/%u", id);
        db_delete(db, key);
    }

    MissiveKyberPreKeyUse use;
    CHECK_OK(missive_changes_kyber_pre_key_use(changes, &present, &use));
    if (present) {
        if (use.last_resort) {
            key_of_kyber_triple(key, use.kyber_pre_key_id, use.signed_pre_key_id, use.base_key);
            db_put(db, key, (const uint8_t *)"1", 1);
        } else {
            snprintf(key, sizeof key, "kyber_pre_key/%u", use.kyber_pre_key_id);
            db_delete(db, key);
        }
    }

    size_t count;
    CHECK_OK(missive_changes_sender_key_count(changes, &count));
    for (size_t i = 0; i < count; i++) {
        MissiveBuffer name, record;
        uint32_t device;
        uint8_t dist[MISSIVE_DISTRIBUTION_ID_LEN];
        CHECK_OK(missive_changes_sender_key(changes, i, &name, &device, dist, sizeof dist, &record));
        MissiveAddress sender = {(const char *)name.data, name.len, device};
        key_of_sender_key(key, &sender, dist);
        db_put(db, key, record.data, record.len);
        missive_buffer_free(&name);
        missive_buffer_free(&record);
    }
    return 1;
}

/* ---- a party: its identity, device, and database ---------------------------------------- */

typedef struct {
    const char *name;
    MissiveAddress address;
    MissiveIdentityKeyPair *identity;
    MissiveDevice *device;
    uint32_t registration_id;
    Db db;
    uint32_t next_key_id;
} Party;

static inline void party_init(Party *p, const char *name, uint32_t device_id, uint32_t registration_id) {
    memset(p, 0, sizeof *p);
    p->name = name;
    p->address.name = name;
    p->address.name_len = strlen(name);
    p->address.device_id = device_id;
    p->registration_id = registration_id;
    p->next_key_id = 1;
    CHECK_OK(missive_identity_key_pair_generate(NULL, &p->identity));
    CHECK_OK(missive_device_new(p->identity, registration_id, &p->address, &p->device));
}

static inline void party_free(Party *p) {
    missive_device_free(&p->device);
    missive_identity_key_pair_free(&p->identity);
    db_free(&p->db);
}

/* Generates prekeys (signed, Kyber, optionally one-time), stores them, and returns the
 * bundle to publish. */
static inline MissivePreKeyBundle *party_publish(Party *p, int one_time, int kyber, int last_resort) {
    uint32_t id = p->next_key_id++;
    char key[DB_KEY];
    MissiveBuffer buf;
    MissivePreKeyRecord *pk = NULL;
    MissiveSignedPreKeyRecord *spk = NULL;
    MissiveKyberPreKeyRecord *kpk = NULL;
    MissivePreKeyBundle *bundle = NULL;

    CHECK_OK(missive_signed_pre_key_record_generate(NULL, p->identity, id, 1780000000000ULL, &spk));
    CHECK_OK(missive_signed_pre_key_record_serialize(spk, &buf));
    snprintf(key, sizeof key, "signed_pre_key/%u", id);
    db_put(&p->db, key, buf.data, buf.len);
    missive_buffer_free(&buf);
    if (one_time) {
        CHECK_OK(missive_pre_key_record_generate(NULL, id, &pk));
        CHECK_OK(missive_pre_key_record_serialize(pk, &buf));
        snprintf(key, sizeof key, "pre_key/%u", id);
        db_put(&p->db, key, buf.data, buf.len);
        missive_buffer_free(&buf);
    }
    if (kyber) {
        CHECK_OK(missive_kyber_pre_key_record_generate(NULL, p->identity, id, 1780000000000ULL,
                                                       last_resort != 0, &kpk));
        CHECK_OK(missive_kyber_pre_key_record_serialize(kpk, &buf));
        snprintf(key, sizeof key, "kyber_pre_key/%u", id);
        db_put(&p->db, key, buf.data, buf.len);
        missive_buffer_free(&buf);
    }
    CHECK_OK(missive_pre_key_bundle_from_records(p->identity, p->registration_id,
                                                 p->address.device_id, pk, spk, kpk, &bundle));
    missive_pre_key_record_free(&pk);
    missive_signed_pre_key_record_free(&spk);
    missive_kyber_pre_key_record_free(&kpk);
    return bundle;
}

/* `from` starts a v4 session with `to` from a bundle. */
static inline void party_start_session(Party *from, Party *to, MissivePreKeyBundle *bundle) {
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveIdentityChange change;
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&from->db, records, &to->address);
    CHECK_OK(missive_session_process_bundle(from->device, NULL, &to->address, records, bundle,
                                            1780000000000ULL, &change, &changes));
    CHECK(db_commit(&from->db, &to->address, changes));
    missive_changes_free(&changes);
    missive_records_free(&records);
}

/* A sent 1:1 message. */
typedef struct {
    uint32_t type;
    MissiveBuffer body;
} Sent;

static inline Sent party_encrypt(Party *from, Party *to, const char *text) {
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    Sent s;
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&from->db, records, &to->address);
    CHECK_OK(missive_session_encrypt(from->device, NULL, &to->address, records,
                                     (const uint8_t *)text, strlen(text), 1780000000000ULL,
                                     &s.type, &s.body, &changes));
    CHECK(db_commit(&from->db, &to->address, changes));
    missive_changes_free(&changes);
    missive_records_free(&records);
    return s;
}

/* Decrypts on `to` what `from` sent; returns the status, and on success the decrypted
 * handle in *out (if out is not NULL; else it is freed) after committing the changes. */
static inline MissiveStatus party_decrypt(Party *to, Party *from, const Sent *s, MissiveDecrypted **out) {
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveDecrypted *d = NULL;
    CHECK_OK(missive_records_new(&records));
    db_load_peer(&to->db, records, &from->address);
    if (s->type == MISSIVE_MESSAGE_PREKEY) {
        MissivePreKeyNeeds needs;
        if (missive_prekey_message_needs(s->body.data, s->body.len, &needs) == MISSIVE_OK) {
            db_load_prekeys_for(&to->db, records, s->body.data, s->body.len);
        }
    }
    MissiveStatus st = missive_session_decrypt(to->device, NULL, &from->address, records, s->type,
                                               s->body.data, s->body.len, &d, &changes);
    if (st == MISSIVE_OK) {
        CHECK(d != NULL && changes != NULL);
        CHECK(db_commit(&to->db, &from->address, changes));
    } else {
        CHECK(d == NULL && changes == NULL);
    }
    missive_changes_free(&changes);
    missive_records_free(&records);
    if (out != NULL) {
        *out = d;
    } else {
        missive_decrypted_free(&d);
    }
    return st;
}

/* Checks that `d`'s plaintext is `text`. */
static inline void check_plaintext(const MissiveDecrypted *d, const char *text) {
    MissiveBuffer p;
    CHECK_OK(missive_decrypted_plaintext(d, &p));
    CHECK(p.len == strlen(text));
    CHECK(p.len == 0 || memcmp(p.data, text, p.len) == 0);
    missive_buffer_free(&p);
}

/* `to` decrypts `s` from `from` and must read `text`. */
static inline void expect_message(Party *to, Party *from, const Sent *s, const char *text) {
    MissiveDecrypted *d = NULL;
    CHECK_OK(party_decrypt(to, from, s, &d));
    check_plaintext(d, text);
    missive_decrypted_free(&d);
}

#endif /* MISSIVE_TEST_SUPPORT_H */
