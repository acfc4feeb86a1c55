/*
 * chat.c: a messenger device written in C on missive's C API.
 *
 * It keeps its state in a small key-value "database" and follows the pattern the API is
 * built for: for every operation, load the records it needs into a MissiveRecords, call
 * missive, then persist everything in the returned MissiveChanges in one transaction.
 *
 * The network is stdin/stdout: one command per line in, one event per line out, bytes in
 * lowercase hex. interop/tests/ffi_chat.rs runs it against libsignal-client: a v4 session
 * each way, safety numbers, and a sender-key group with a backlog and a rotation.
 *
 *   usage: chat <our name> <our device id>
 *
 * Commands (a peer is "<name>/<device id>"):
 *   PUBLISH                       -> BUNDLE <reg> <device> <prekey id> <prekey>
 *                                    <signed id> <signed> <signature> <identity>
 *                                    <kyber id> <kyber> <kyber signature>
 *   BUNDLE <peer> <reg> <device> <prekey id|-> <prekey|-> <signed id> <signed>
 *          <signature> <identity> <kyber id> <kyber> <kyber signature>
 *                                 -> STARTED <peer> <new|unchanged>
 *   SAY <peer> <text>             -> SEND <peer> <type> <message>
 *   MSG <peer> <type> <message>   -> GOT <peer> <text> <new|unchanged|replaced>
 *                                    | FAILED <peer> <code>
 *   SAFETY <peer>                 -> SAFETY <peer> <60 digits> <scannable>
 *   VERIFY <peer> <scanned>       -> VERIFIED <peer> <yes|no|version>
 *   GROUP-SHARE <peer>            -> SEND <peer> <type> <message>  (our distribution)
 *   DIST <peer> <type> <message>  -> GOT-DIST <peer>  (a 1:1 message carrying theirs)
 *   GROUP-SAY <text>              -> GROUP <message>
 *   GROUP-MSG <peer> <message>    -> GOT <peer> <text> group
 *   GROUP-BACKLOG <n>, then n lines "<peer> <message>"
 *                                 -> n lines GOT <peer> <text> group | FAILED <peer> <code>
 *   GROUP-ROTATE                  -> ROTATED
 *   QUIT                          -> BYE
 * Any failure prints "FAIL <what> <code> <message>" and exits with status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "missive.h"

/* The group of this demo: one distribution id, as a group would have. */
static const uint8_t GROUP_ID[MISSIVE_DISTRIBUTION_ID_LEN] = {
    0x4c, 0x0d, 0x2b, 0x7e, 0x19, 0x5f, 0x4e, 0x8a, 0x9b, 0x31, 0x62, 0xd4, 0x0f, 0xa7, 0x55, 0x10};

/* ---- failing loudly --------------------------------------------------------------- */

static void fail(const char *what, MissiveStatus status) {
    printf("FAIL %s %u %s\n", what, (unsigned)status, missive_error_message(status));
    fflush(stdout);
    exit(1);
}

/* Every call that must work goes through this. */
#define MUST(call)                                                                      \
    do {                                                                                \
        MissiveStatus must_status_ = (call);                                            \
        if (must_status_ != MISSIVE_OK) fail(#call, must_status_);                      \
    } while (0)

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fail("malloc", MISSIVE_ERROR_INTERNAL);
    }
    return p;
}

/* ---- hex ------------------------------------------------------------------------- */

static void print_hex(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
    if (n == 0) {
        printf("-");
    }
}

/* Decodes a hex token into a new buffer ("-" is empty); returns its length. */
static size_t parse_hex(const char *h, uint8_t **out) {
    size_t len = strcmp(h, "-") == 0 ? 0 : strlen(h) / 2;
    *out = (uint8_t *)xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) {
            fail("parse_hex", MISSIVE_ERROR_INVALID_ARGUMENT);
        }
        (*out)[i] = (uint8_t)v;
    }
    return len;
}

/* ---- the database: keys to bytes, and one transaction per operation ------------------- */

typedef struct {
    char *key;
    uint8_t *value;
    size_t len;
} Row;

static Row *rows = NULL;
static size_t row_count = 0;

static Row *db_find(const char *key) {
    for (size_t i = 0; i < row_count; i++) {
        if (strcmp(rows[i].key, key) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

static const uint8_t *db_get(const char *key, size_t *len) {
    Row *r = db_find(key);
    *len = r ? r->len : 0;
    return r ? r->value : NULL;
}

static void wipe_free(uint8_t *p, size_t n) {
    if (p != NULL) {
        memset(p, 0, n); /* records hold secrets; a real app uses explicit_bzero */
        free(p);
    }
}

static void db_put(const char *key, const uint8_t *value, size_t len) {
    Row *r = db_find(key);
    if (r == NULL) {
        rows = (Row *)realloc(rows, (row_count + 1) * sizeof *rows);
        if (rows == NULL) {
            fail("realloc", MISSIVE_ERROR_INTERNAL);
        }
        r = &rows[row_count++];
        r->key = (char *)xmalloc(strlen(key) + 1);
        strcpy(r->key, key);
    } else {
        wipe_free(r->value, r->len);
    }
    r->value = (uint8_t *)xmalloc(len);
    memcpy(r->value, value, len);
    r->len = len;
}

static void db_delete(const char *key) {
    Row *r = db_find(key);
    if (r != NULL) {
        wipe_free(r->value, r->len);
        free(r->key);
        *r = rows[--row_count];
    }
}

static void db_close(void) {
    while (row_count > 0) {
        db_delete(rows[0].key);
    }
    free(rows);
}

/* Keys: "session/<peer>", "identity/<peer>", "pre_key/<id>", "signed_pre_key/<id>",
 * "kyber_pre_key/<id>", "kyber_used/<id>/<signed id>/<base key>",
 * "sender_key/<peer>/<distribution id>". */
static void key_for(char *out, size_t cap, const char *kind, const MissiveAddress *a) {
    snprintf(out, cap, "%s/%.*s/%u", kind, (int)a->name_len, a->name, a->device_id);
}

static void key_for_sender_key(char *out, size_t cap, const MissiveAddress *a,
                               const uint8_t *dist) {
    int n = snprintf(out, cap, "sender_key/%.*s/%u/", (int)a->name_len, a->name, a->device_id);
    for (int i = 0; i < MISSIVE_DISTRIBUTION_ID_LEN && (size_t)n + 2 < cap; i++) {
        n += snprintf(out + n, cap - (size_t)n, "%02x", dist[i]);
    }
}

static void key_for_kyber_triple(char *out, size_t cap, uint32_t kyber, uint32_t spk,
                                 const uint8_t *base) {
    int n = snprintf(out, cap, "kyber_used/%u/%u/", kyber, spk);
    for (int i = 0; i < MISSIVE_PUBLIC_KEY_LEN && (size_t)n + 2 < cap; i++) {
        n += snprintf(out + n, cap - (size_t)n, "%02x", base[i]);
    }
}

/* Loads a peer's session record and stored identity; absent rows are declared absent. */
static void load_peer(MissiveRecords *records, const MissiveAddress *peer) {
    char key[256];
    size_t len;
    const uint8_t *v;
    key_for(key, sizeof key, "session", peer);
    v = db_get(key, &len);
    MUST(missive_records_set_session(records, peer, v, len));
    key_for(key, sizeof key, "identity", peer);
    v = db_get(key, &len);
    MUST(missive_records_set_identity(records, peer, v, len));
}

static void load_sender_key(MissiveRecords *records, const MissiveAddress *sender,
                            const uint8_t *dist) {
    char key[256];
    size_t len;
    key_for_sender_key(key, sizeof key, sender, dist);
    const uint8_t *v = db_get(key, &len);
    MUST(missive_records_set_sender_key(records, sender, dist, MISSIVE_DISTRIBUTION_ID_LEN, v, len));
}

/* Persists every write of one operation with `peer`, as one transaction. (In SQLite:
 * BEGIN; the statements below; COMMIT. If anything fails: ROLLBACK, and the operation
 * simply did not happen.) */
static void commit(const MissiveAddress *peer, const MissiveChanges *changes) {
    char key[256];
    bool present, replaced;
    MissiveBuffer buf;

    MUST(missive_changes_session(changes, &present, &buf));
    if (present && peer == NULL) {
        fail("a session change without a peer", MISSIVE_ERROR_INTERNAL);
    }
    if (present) {
        key_for(key, sizeof key, "session", peer);
        db_put(key, buf.data, buf.len);
    }
    missive_buffer_free(&buf);

    uint8_t identity[MISSIVE_PUBLIC_KEY_LEN];
    MUST(missive_changes_identity(changes, &present, identity, sizeof identity, &replaced, NULL, 0));
    if (present && peer == NULL) {
        fail("an identity change without a peer", MISSIVE_ERROR_INTERNAL);
    }
    if (present) {
        key_for(key, sizeof key, "identity", peer);
        db_put(key, identity, sizeof identity);
    }

    uint32_t id;
    MUST(missive_changes_consumed_pre_key(changes, &present, &id));
    if (present) {
        snprintf(key, sizeof key, "pre_key/%u", id);
        db_delete(key);
    }

    MissiveKyberPreKeyUse use;
    MUST(missive_changes_kyber_pre_key_use(changes, &present, &use));
    if (present && use.last_resort) {
        key_for_kyber_triple(key, sizeof key, use.kyber_pre_key_id, use.signed_pre_key_id,
                             use.base_key);
        db_put(key, (const uint8_t *)"", 0);
    } else if (present) {
        snprintf(key, sizeof key, "kyber_pre_key/%u", use.kyber_pre_key_id);
        db_delete(key);
    }

    size_t count;
    MUST(missive_changes_sender_key_count(changes, &count));
    for (size_t i = 0; i < count; i++) {
        MissiveBuffer name, record;
        uint32_t device;
        uint8_t dist[MISSIVE_DISTRIBUTION_ID_LEN];
        MUST(missive_changes_sender_key(changes, i, &name, &device, dist, sizeof dist, &record));
        MissiveAddress sender = {(const char *)name.data, name.len, device};
        key_for_sender_key(key, sizeof key, &sender, dist);
        db_put(key, record.data, record.len);
        missive_buffer_free(&name);
        missive_buffer_free(&record);
    }
}

/* ---- who we are ----------------------------------------------------------------------- */

static MissiveIdentityKeyPair *identity = NULL;
static MissiveDevice *device = NULL;
static MissiveAddress me;
static uint32_t registration_id;
static uint32_t next_key_id = 1;

static uint64_t now_ms(void) {
    return (uint64_t)time(NULL) * 1000u;
}

/* A peer token "<name>/<device>" as an address; the name points into `token`. */
static MissiveAddress parse_peer(char *token) {
    char *slash = strrchr(token, '/');
    if (slash == NULL) {
        fail("parse_peer", MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    MissiveAddress a = {token, (size_t)(slash - token), (uint32_t)strtoul(slash + 1, NULL, 10)};
    return a;
}

static void print_peer(const MissiveAddress *a) {
    printf("%.*s/%u", (int)a->name_len, a->name, a->device_id);
}

/* ---- 1:1 sessions --------------------------------------------------------------------- */

/* PUBLISH: new prekeys (a one-time prekey, a signed prekey, a one-time Kyber prekey),
 * stored, and the bundle printed for the server. */
static void publish(void) {
    uint32_t id = next_key_id++;
    char key[64];
    MissiveBuffer buf;
    MissivePreKeyRecord *pk = NULL;
    MissiveSignedPreKeyRecord *spk = NULL;
    MissiveKyberPreKeyRecord *kpk = NULL;

    MUST(missive_pre_key_record_generate(NULL, id, &pk));
    MUST(missive_signed_pre_key_record_generate(NULL, identity, id, now_ms(), &spk));
    MUST(missive_kyber_pre_key_record_generate(NULL, identity, id, now_ms(), false, &kpk));

    MUST(missive_pre_key_record_serialize(pk, &buf));
    snprintf(key, sizeof key, "pre_key/%u", id);
    db_put(key, buf.data, buf.len);
    missive_buffer_free(&buf);
    MUST(missive_signed_pre_key_record_serialize(spk, &buf));
    snprintf(key, sizeof key, "signed_pre_key/%u", id);
    db_put(key, buf.data, buf.len);
    missive_buffer_free(&buf);
    MUST(missive_kyber_pre_key_record_serialize(kpk, &buf));
    snprintf(key, sizeof key, "kyber_pre_key/%u", id);
    db_put(key, buf.data, buf.len);
    missive_buffer_free(&buf);

    uint8_t pub[MISSIVE_PUBLIC_KEY_LEN], sig[MISSIVE_SIGNATURE_LEN];
    printf("BUNDLE %u %u %u ", registration_id, me.device_id, id);
    MUST(missive_pre_key_record_public_key(pk, pub, sizeof pub));
    print_hex(pub, sizeof pub);
    printf(" %u ", id);
    MUST(missive_signed_pre_key_record_public_key(spk, pub, sizeof pub));
    print_hex(pub, sizeof pub);
    printf(" ");
    MUST(missive_signed_pre_key_record_signature(spk, sig, sizeof sig));
    print_hex(sig, sizeof sig);
    printf(" ");
    MUST(missive_identity_key_pair_public_key(identity, pub, sizeof pub));
    print_hex(pub, sizeof pub);
    printf(" %u ", id);
    MUST(missive_kyber_pre_key_record_public_key(kpk, &buf));
    print_hex(buf.data, buf.len);
    missive_buffer_free(&buf);
    printf(" ");
    MUST(missive_kyber_pre_key_record_signature(kpk, sig, sizeof sig));
    print_hex(sig, sizeof sig);
    printf("\n");

    missive_pre_key_record_free(&pk);
    missive_signed_pre_key_record_free(&spk);
    missive_kyber_pre_key_record_free(&kpk);
}

/* BUNDLE: start a v4 session with a peer from the bundle the server gave us. */
static void start_session(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    uint8_t *pre_key, *signed_pre_key, *signature, *their_identity, *kyber, *kyber_signature;
    size_t pre_key_len = parse_hex(f[5], &pre_key); /* "-": the server had none left */
    size_t signed_len = parse_hex(f[7], &signed_pre_key);
    size_t signature_len = parse_hex(f[8], &signature);
    size_t identity_len = parse_hex(f[9], &their_identity);
    size_t kyber_len = parse_hex(f[11], &kyber);
    size_t kyber_signature_len = parse_hex(f[12], &kyber_signature);
    MissivePreKeyBundle *bundle = NULL;
    MUST(missive_pre_key_bundle_new(
        (uint32_t)strtoul(f[2], NULL, 10), (uint32_t)strtoul(f[3], NULL, 10),
        (uint32_t)strtoul(f[4], NULL, 10), pre_key, pre_key_len,
        (uint32_t)strtoul(f[6], NULL, 10), signed_pre_key, signed_len, signature, signature_len,
        their_identity, identity_len, (uint32_t)strtoul(f[10], NULL, 10), kyber, kyber_len,
        kyber_signature, kyber_signature_len, &bundle));
    free(pre_key);
    free(signed_pre_key);
    free(signature);
    free(their_identity);
    free(kyber);
    free(kyber_signature);

    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveIdentityChange change;
    MUST(missive_records_new(&records));
    load_peer(records, &peer);
    MUST(missive_session_process_bundle(device, NULL, &peer, records, bundle, now_ms(), &change,
                                        &changes));
    commit(&peer, changes);
    printf("STARTED ");
    print_peer(&peer);
    printf(" %s\n", change == MISSIVE_IDENTITY_NEW ? "new" : "unchanged");
    missive_changes_free(&changes);
    missive_records_free(&records);
    missive_pre_key_bundle_free(&bundle);
}

/* Encrypts `plaintext` for `peer` and prints what to send. */
static void send_to(const MissiveAddress *peer, const uint8_t *plaintext, size_t len) {
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveBuffer message;
    uint32_t type;
    MUST(missive_records_new(&records));
    load_peer(records, peer);
    MUST(missive_session_encrypt(device, NULL, peer, records, plaintext, len, now_ms(), &type,
                                 &message, &changes));
    commit(peer, changes); /* persist before the message leaves */
    printf("SEND ");
    print_peer(peer);
    printf(" %u ", type);
    print_hex(message.data, message.len);
    printf("\n");
    missive_buffer_free(&message);
    missive_changes_free(&changes);
    missive_records_free(&records);
}

static void say(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    uint8_t *text;
    size_t len = parse_hex(f[2], &text);
    send_to(&peer, text, len);
    free(text);
}

/* Decrypts a 1:1 message; for a prekey message, loads just the prekeys it names. On
 * success *decrypted holds the result (the caller frees it). A message that does not
 * decrypt changes nothing: the status says why (collapsed, see missive.h). */
static MissiveStatus receive(const MissiveAddress *peer, uint32_t type, const uint8_t *msg,
                             size_t len, MissiveDecrypted **decrypted) {
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MUST(missive_records_new(&records));
    load_peer(records, peer);
    if (type == MISSIVE_MESSAGE_PREKEY) {
        MissivePreKeyNeeds needs;
        char key[256];
        size_t n;
        const uint8_t *v;
        MissiveStatus st = missive_prekey_message_needs(msg, len, &needs);
        if (st != MISSIVE_OK) {
            missive_records_free(&records);
            return st;
        }
        snprintf(key, sizeof key, "pre_key/%u", needs.pre_key_id);
        if (needs.has_pre_key && (v = db_get(key, &n)) != NULL) {
            MUST(missive_records_add_pre_key(records, v, n));
        }
        snprintf(key, sizeof key, "signed_pre_key/%u", needs.signed_pre_key_id);
        if ((v = db_get(key, &n)) != NULL) {
            MUST(missive_records_add_signed_pre_key(records, v, n));
        }
        snprintf(key, sizeof key, "kyber_pre_key/%u", needs.kyber_pre_key_id);
        if (needs.has_kyber_pre_key && (v = db_get(key, &n)) != NULL) {
            MUST(missive_records_add_kyber_pre_key(records, v, n));
        }
        if (needs.has_kyber_pre_key) {
            key_for_kyber_triple(key, sizeof key, needs.kyber_pre_key_id,
                                 needs.signed_pre_key_id, needs.base_key);
            MUST(missive_records_set_kyber_triple_used(records, needs.kyber_pre_key_id,
                                                       needs.signed_pre_key_id, needs.base_key,
                                                       sizeof needs.base_key,
                                                       db_get(key, &n) != NULL));
        }
    }
    MissiveStatus st =
        missive_session_decrypt(device, NULL, peer, records, type, msg, len, decrypted, &changes);
    if (st == MISSIVE_OK) {
        commit(peer, changes);
    }
    missive_changes_free(&changes);
    missive_records_free(&records);
    return st;
}

static void on_message(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    uint8_t *msg;
    size_t len = parse_hex(f[3], &msg);
    MissiveDecrypted *d = NULL;
    MissiveStatus st = receive(&peer, (uint32_t)strtoul(f[2], NULL, 10), msg, len, &d);
    free(msg);
    if (st != MISSIVE_OK) {
        printf("FAILED ");
        print_peer(&peer);
        printf(" %u\n", (unsigned)st);
        return;
    }
    MissiveBuffer text;
    MissiveIdentityChange change;
    MUST(missive_decrypted_plaintext(d, &text));
    MUST(missive_decrypted_identity_change(d, &change, NULL, 0));
    printf("GOT ");
    print_peer(&peer);
    printf(" ");
    print_hex(text.data, text.len);
    printf(" %s\n", change == MISSIVE_IDENTITY_NEW        ? "new"
                    : change == MISSIVE_IDENTITY_REPLACED ? "replaced"
                                                          : "unchanged");
    missive_buffer_free(&text);
    missive_decrypted_free(&d);
}

/* ---- safety numbers ------------------------------------------------------------------- */

/* The stable id of an ACI address: the UUID's 16 bytes. */
static void uuid_bytes(const MissiveAddress *a, uint8_t out[16]) {
    int j = 0;
    for (size_t i = 0; i + 1 < a->name_len && j < 16; i++) {
        unsigned v;
        if (a->name[i] == '-') {
            continue;
        }
        char pair[3] = {a->name[i], a->name[i + 1], 0};
        if (sscanf(pair, "%2x", &v) != 1) {
            fail("uuid_bytes", MISSIVE_ERROR_INVALID_NAME);
        }
        out[j++] = (uint8_t)v;
        i++;
    }
    if (j != 16) {
        fail("uuid_bytes", MISSIVE_ERROR_INVALID_NAME);
    }
}

static MissiveFingerprint *fingerprint_with(const MissiveAddress *peer) {
    uint8_t mine[MISSIVE_PUBLIC_KEY_LEN], my_id[16], their_id[16];
    char key[256];
    size_t len;
    key_for(key, sizeof key, "identity", peer);
    const uint8_t *theirs = db_get(key, &len);
    if (theirs == NULL) {
        fail("no identity stored for the peer", MISSIVE_ERROR_NO_SESSION);
    }
    MUST(missive_identity_key_pair_public_key(identity, mine, sizeof mine));
    uuid_bytes(&me, my_id);
    uuid_bytes(peer, their_id);
    MissiveFingerprint *fp = NULL;
    MUST(missive_fingerprint_new(2, 5200, my_id, 16, mine, sizeof mine, their_id, 16, theirs, len,
                                 &fp));
    return fp;
}

static void safety(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    MissiveFingerprint *fp = fingerprint_with(&peer);
    char digits[MISSIVE_FINGERPRINT_DISPLAY_LEN + 1];
    MissiveBuffer code;
    MUST(missive_fingerprint_display_string(fp, digits, sizeof digits));
    MUST(missive_fingerprint_scannable(fp, &code));
    printf("SAFETY ");
    print_peer(&peer);
    printf(" %s ", digits);
    print_hex(code.data, code.len);
    printf("\n");
    missive_buffer_free(&code);
    missive_fingerprint_free(&fp);
}

static void verify(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    MissiveFingerprint *fp = fingerprint_with(&peer);
    uint8_t *scanned;
    size_t len = parse_hex(f[2], &scanned);
    MissiveStatus st = missive_fingerprint_compare(fp, scanned, len);
    printf("VERIFIED ");
    print_peer(&peer);
    printf(" %s\n", st == MISSIVE_OK                                   ? "yes"
                    : st == MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH ? "version"
                                                                       : "no");
    free(scanned);
    missive_fingerprint_free(&fp);
}

/* ---- the group ------------------------------------------------------------------------ */

/* GROUP-SHARE: our distribution message (a new chain the first time), sent to one member
 * inside our 1:1 session with it. */
static void group_share(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveBuffer skdm;
    MUST(missive_records_new(&records));
    load_sender_key(records, &me, GROUP_ID);
    MUST(missive_group_create_distribution(device, NULL, records, GROUP_ID, sizeof GROUP_ID, &skdm,
                                           &changes));
    commit(&me, changes);
    missive_changes_free(&changes);
    missive_records_free(&records);
    send_to(&peer, skdm.data, skdm.len);
    missive_buffer_free(&skdm);
}

/* DIST: a 1:1 message that carries a member's distribution message. The member is the
 * sender that the 1:1 session authenticated (the decrypted message says who). */
static void on_distribution(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    uint8_t *msg;
    size_t len = parse_hex(f[3], &msg);
    MissiveDecrypted *d = NULL;
    MUST(receive(&peer, (uint32_t)strtoul(f[2], NULL, 10), msg, len, &d));
    free(msg);
    MissiveBuffer skdm;
    uint8_t dist[MISSIVE_DISTRIBUTION_ID_LEN];
    MUST(missive_decrypted_plaintext(d, &skdm));
    MUST(missive_sender_key_distribution_message_distribution_id(skdm.data, skdm.len, dist,
                                                                sizeof dist));
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MUST(missive_records_new(&records));
    load_sender_key(records, &peer, dist);
    MUST(missive_group_process_distribution(device, records, d, skdm.data, skdm.len, &changes));
    commit(&peer, changes);
    printf("GOT-DIST ");
    print_peer(&peer);
    printf("\n");
    missive_changes_free(&changes);
    missive_records_free(&records);
    missive_buffer_free(&skdm);
    missive_decrypted_free(&d);
}

static void group_say(char **f) {
    uint8_t *text;
    size_t len = parse_hex(f[1], &text);
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveBuffer message;
    MUST(missive_records_new(&records));
    load_sender_key(records, &me, GROUP_ID);
    MUST(missive_group_encrypt(device, NULL, records, GROUP_ID, sizeof GROUP_ID, text, len,
                               &message, &changes));
    commit(&me, changes);
    printf("GROUP ");
    print_hex(message.data, message.len);
    printf("\n");
    free(text);
    missive_buffer_free(&message);
    missive_changes_free(&changes);
    missive_records_free(&records);
}

static void print_group_text(const MissiveAddress *peer, const MissiveBuffer *text) {
    printf("GOT ");
    print_peer(peer);
    printf(" ");
    print_hex(text->data, text->len);
    printf(" group\n");
}

static void on_group_message(char **f) {
    MissiveAddress peer = parse_peer(f[1]);
    uint8_t *msg;
    size_t len = parse_hex(f[2], &msg);
    uint8_t dist[MISSIVE_DISTRIBUTION_ID_LEN];
    MUST(missive_sender_key_message_distribution_id(msg, len, dist, sizeof dist));
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveBuffer text;
    MUST(missive_records_new(&records));
    load_sender_key(records, &peer, dist);
    MUST(missive_group_decrypt(device, records, &peer, msg, len, &text, &changes));
    commit(NULL, changes);
    print_group_text(&peer, &text);
    free(msg);
    missive_buffer_free(&text);
    missive_changes_free(&changes);
    missive_records_free(&records);
}

#define LINE_MAX_LEN 65536
#define MAX_FIELDS 16

static int split(char *line, char **f) {
    int n = 0;
    for (char *t = strtok(line, " \r\n"); t != NULL && n < MAX_FIELDS; t = strtok(NULL, " \r\n")) {
        f[n++] = t;
    }
    return n;
}

/* GROUP-BACKLOG: n messages from several members, decrypted in one batch (every
 * signature verified at once), and their writes persisted in one transaction. */
static void group_backlog(char **f) {
    size_t n = (size_t)strtoul(f[1], NULL, 10);
    char **lines = (char **)xmalloc(n * sizeof *lines);
    uint8_t **bodies = (uint8_t **)xmalloc(n * sizeof *bodies);
    MissiveGroupMessage *batch = (MissiveGroupMessage *)xmalloc(n * sizeof *batch);
    MissiveGroupResult *results = (MissiveGroupResult *)xmalloc(n * sizeof *results);
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MUST(missive_records_new(&records));
    for (size_t i = 0; i < n; i++) {
        char *fields[MAX_FIELDS];
        lines[i] = (char *)xmalloc(LINE_MAX_LEN);
        if (fgets(lines[i], LINE_MAX_LEN, stdin) == NULL || split(lines[i], fields) != 2) {
            fail("backlog line", MISSIVE_ERROR_INVALID_ARGUMENT);
        }
        batch[i].sender = parse_peer(fields[0]);
        batch[i].message_len = parse_hex(fields[1], &bodies[i]);
        batch[i].message = bodies[i];
        uint8_t dist[MISSIVE_DISTRIBUTION_ID_LEN];
        if (missive_sender_key_message_distribution_id(batch[i].message, batch[i].message_len,
                                                       dist, sizeof dist) == MISSIVE_OK) {
            load_sender_key(records, &batch[i].sender, dist);
        }
    }
    MUST(missive_group_decrypt_batch(device, records, batch, n, results, &changes));
    commit(NULL, changes);
    for (size_t i = 0; i < n; i++) {
        if (results[i].status == MISSIVE_OK) {
            print_group_text(&batch[i].sender, &results[i].plaintext);
        } else {
            printf("FAILED ");
            print_peer(&batch[i].sender);
            printf(" %u\n", (unsigned)results[i].status);
        }
        missive_buffer_free(&results[i].plaintext);
        free(bodies[i]);
        free(lines[i]);
    }
    missive_changes_free(&changes);
    missive_records_free(&records);
    free(lines);
    free(bodies);
    free(batch);
    free(results);
}

/* GROUP-ROTATE: a new sending chain (after a member left); share it with GROUP-SHARE to
 * the members who remain. */
static void group_rotate(void) {
    MissiveRecords *records = NULL;
    MissiveChanges *changes = NULL;
    MissiveBuffer skdm;
    MUST(missive_records_new(&records));
    load_sender_key(records, &me, GROUP_ID);
    MUST(missive_group_rotate(device, NULL, records, GROUP_ID, sizeof GROUP_ID, &skdm, &changes));
    commit(&me, changes);
    printf("ROTATED\n");
    missive_buffer_free(&skdm);
    missive_changes_free(&changes);
    missive_records_free(&records);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <our name> <our device id>\n", argv[0]);
        return 2;
    }
    if (strcmp(missive_version(), "0.1.0") != 0 || MISSIVE_VERSION_MINOR != 1) {
        fprintf(stderr, "header and library versions differ: %s\n", missive_version());
        return 2;
    }
    me.name = argv[1];
    me.name_len = strlen(argv[1]);
    me.device_id = (uint32_t)strtoul(argv[2], NULL, 10);
    registration_id = 1 + (uint32_t)(now_ms() % 16380);
    MUST(missive_identity_key_pair_generate(NULL, &identity));
    MUST(missive_device_new(identity, registration_id, &me, &device));
    uint8_t pub[MISSIVE_PUBLIC_KEY_LEN];
    MUST(missive_identity_key_pair_public_key(identity, pub, sizeof pub));
    printf("IDENTITY ");
    print_hex(pub, sizeof pub);
    printf(" %u\n", registration_id);
    fflush(stdout);

    char *line = (char *)xmalloc(LINE_MAX_LEN);
    char *f[MAX_FIELDS];
    while (fgets(line, LINE_MAX_LEN, stdin) != NULL) {
        int n = split(line, f);
        if (n == 0) {
            continue;
        }
        if (strcmp(f[0], "PUBLISH") == 0 && n == 1) {
            publish();
        } else if (strcmp(f[0], "BUNDLE") == 0 && n == 13) {
            start_session(f);
        } else if (strcmp(f[0], "SAY") == 0 && n == 3) {
            say(f);
        } else if (strcmp(f[0], "MSG") == 0 && n == 4) {
            on_message(f);
        } else if (strcmp(f[0], "SAFETY") == 0 && n == 2) {
            safety(f);
        } else if (strcmp(f[0], "VERIFY") == 0 && n == 3) {
            verify(f);
        } else if (strcmp(f[0], "GROUP-SHARE") == 0 && n == 2) {
            group_share(f);
        } else if (strcmp(f[0], "DIST") == 0 && n == 4) {
            on_distribution(f);
        } else if (strcmp(f[0], "GROUP-SAY") == 0 && n == 2) {
            group_say(f);
        } else if (strcmp(f[0], "GROUP-MSG") == 0 && n == 3) {
            on_group_message(f);
        } else if (strcmp(f[0], "GROUP-BACKLOG") == 0 && n == 2) {
            group_backlog(f);
        } else if (strcmp(f[0], "GROUP-ROTATE") == 0 && n == 1) {
            group_rotate();
        } else if (strcmp(f[0], "QUIT") == 0) {
            printf("BYE\n");
            fflush(stdout);
            break;
        } else {
            fail(f[0], MISSIVE_ERROR_INVALID_ARGUMENT);
        }
        fflush(stdout);
    }
    free(line);
    missive_device_free(&device);
    missive_identity_key_pair_free(&identity);
    db_close();
    return 0;
}
