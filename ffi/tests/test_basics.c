/*
 * The conventions: version, error codes and messages, buffers, frees (double free
 * avoided by design), NULL pointers and bad lengths refused everywhere, the RNG (OS by
 * default, a callback injected, a failing callback refused).
 */
#include "support.h"

static void version(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", MISSIVE_VERSION_MAJOR, MISSIVE_VERSION_MINOR,
             MISSIVE_VERSION_PATCH);
    CHECK(strcmp(missive_version(), expected) == 0);
}

static void error_codes(void) {
    /* Every code the header names has its own message; anything else is "unknown". */
    static const MissiveStatus known[] = {
        MISSIVE_OK,
        MISSIVE_ERROR_NULL_POINTER,
        MISSIVE_ERROR_INVALID_ARGUMENT,
        MISSIVE_ERROR_INVALID_NAME,
        MISSIVE_ERROR_RECORD_NOT_LOADED,
        MISSIVE_ERROR_INVALID_STATE,
        MISSIVE_ERROR_RNG_FAILED,
        MISSIVE_ERROR_BAD_RNG,
        MISSIVE_ERROR_PANIC,
        MISSIVE_ERROR_INTERNAL,
        MISSIVE_ERROR_DECODE_TRUNCATED,
        MISSIVE_ERROR_DECODE_BAD_LENGTH,
        MISSIVE_ERROR_DECODE_UNKNOWN_TYPE,
        MISSIVE_ERROR_DECODE_LEGACY_VERSION,
        MISSIVE_ERROR_DECODE_UNKNOWN_VERSION,
        MISSIVE_ERROR_DECODE_MALFORMED,
        MISSIVE_ERROR_DECODE_MISSING_FIELD,
        MISSIVE_ERROR_DECODE_INVALID_KEY,
        MISSIVE_ERROR_DECRYPTION_FAILED,
        MISSIVE_ERROR_DUPLICATE_MESSAGE,
        MISSIVE_ERROR_TOO_FAR_IN_FUTURE,
        MISSIVE_ERROR_NO_SESSION,
        MISSIVE_ERROR_UNTRUSTED_IDENTITY,
        MISSIVE_ERROR_BAD_SIGNATURE,
        MISSIVE_ERROR_NON_CONTRIBUTORY,
        MISSIVE_ERROR_NON_CANONICAL_KEY,
        MISSIVE_ERROR_UNKNOWN_PRE_KEY,
        MISSIVE_ERROR_UNKNOWN_SIGNED_PRE_KEY,
        MISSIVE_ERROR_UNKNOWN_KYBER_PRE_KEY,
        MISSIVE_ERROR_KYBER_PRE_KEY_REUSED,
        MISSIVE_ERROR_MISSING_KYBER_CIPHERTEXT,
        MISSIVE_ERROR_VERSION_MISMATCH,
        MISSIVE_ERROR_ADDRESS_MISMATCH,
        MISSIVE_ERROR_PQ_RATCHET,
        MISSIVE_ERROR_SESSION_EXPIRED,
        MISSIVE_ERROR_LEGACY_REFUSED,
        MISSIVE_ERROR_NO_SENDER_KEY_STATE,
        MISSIVE_ERROR_STORE_CONFLICT,
        MISSIVE_ERROR_STORE_WRITE,
        MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH,
        MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH,
    };
    const size_t n = sizeof known / sizeof known[0];
    const char *unknown = missive_error_message(1000);
    CHECK(unknown != NULL && strcmp(unknown, "unknown error code") == 0);
    CHECK(MISSIVE_OK == 0);
    for (size_t i = 0; i < n; i++) {
        const char *m = missive_error_message(known[i]);
        CHECK(m != NULL && strlen(m) > 0 && strcmp(m, unknown) != 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(known[i] != known[j]);
            CHECK(strcmp(m, missive_error_message(known[j])) != 0);
        }
    }
    /* Every other value up to 200 is unknown: no code exists that the header lacks. */
    size_t seen = 0;
    for (uint32_t c = 0; c < 200; c++) {
        if (strcmp(missive_error_message(c), unknown) != 0) {
            seen++;
        }
    }
    CHECK(seen == n);
    CHECK(strcmp(missive_error_message(UINT32_MAX), unknown) == 0);
}

static void buffers_and_frees(void) {
    /* Freeing NULL, an empty buffer and a freed buffer is a no-op. */
    missive_buffer_free(NULL);
    MissiveBuffer empty = {NULL, 0};
    missive_buffer_free(&empty);

    MissiveIdentityKeyPair *kp = NULL;
    CHECK_OK(missive_identity_key_pair_generate(NULL, &kp));
    MissiveBuffer b;
    CHECK_OK(missive_identity_key_pair_serialize(kp, &b));
    CHECK(b.data != NULL && b.len > 0);
    missive_buffer_free(&b);
    CHECK(b.data == NULL && b.len == 0);
    missive_buffer_free(&b); /* again: nothing happens */

    /* A handle's free sets the caller's pointer to NULL: the second free is a no-op. */
    missive_identity_key_pair_free(&kp);
    CHECK(kp == NULL);
    missive_identity_key_pair_free(&kp);
    missive_identity_key_pair_free(NULL);

    /* Every free function takes NULL. */
    missive_pre_key_record_free(NULL);
    missive_signed_pre_key_record_free(NULL);
    missive_kyber_pre_key_record_free(NULL);
    missive_pre_key_bundle_free(NULL);
    missive_device_free(NULL);
    missive_records_free(NULL);
    missive_changes_free(NULL);
    missive_decrypted_free(NULL);
    missive_session_record_free(NULL);
    missive_fingerprint_free(NULL);
    MissiveRecords *r = NULL;
    missive_records_free(&r);
}

static void null_pointers_and_lengths(void) {
    MissiveIdentityKeyPair *kp = NULL;
    MissiveBuffer b = {NULL, 0};
    uint8_t key[MISSIVE_PUBLIC_KEY_LEN];
    uint32_t u;
    bool flag;

    /* Outputs must not be NULL; a failed call leaves its output handle NULL. */
    CHECK_STATUS(missive_identity_key_pair_generate(NULL, NULL), MISSIVE_ERROR_NULL_POINTER);
    kp = (MissiveIdentityKeyPair *)&u; /* a stale value: the failed call clears it */
    CHECK_STATUS(missive_identity_key_pair_deserialize(NULL, 5, &kp), MISSIVE_ERROR_NULL_POINTER);
    CHECK(kp == NULL);
    CHECK_STATUS(missive_identity_key_pair_deserialize(NULL, 0, &kp),
                 MISSIVE_ERROR_DECODE_TRUNCATED);
    CHECK(kp == NULL);
    CHECK_STATUS(missive_identity_key_pair_serialize(NULL, &b), MISSIVE_ERROR_NULL_POINTER);
    CHECK(b.data == NULL && b.len == 0);
    CHECK_STATUS(missive_identity_key_pair_public_key(NULL, key, sizeof key),
                 MISSIVE_ERROR_NULL_POINTER);

    CHECK_OK(missive_identity_key_pair_generate(NULL, &kp));
    CHECK_STATUS(missive_identity_key_pair_serialize(kp, NULL), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_identity_key_pair_public_key(kp, NULL, 33), MISSIVE_ERROR_NULL_POINTER);
    /* An output array shorter than the value is refused, nothing written past it. */
    CHECK_STATUS(missive_identity_key_pair_public_key(kp, key, 32), MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_OK(missive_identity_key_pair_public_key(kp, key, sizeof key));
    CHECK(key[0] == 0x05);

    /* Misaligned handles and outputs are refused rather than used. */
    uint32_t words[4];
    CHECK_STATUS(missive_pre_key_record_id((const MissivePreKeyRecord *)((char *)words + 1), &u),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_kyber_pre_key_record_is_last_resort(NULL, &flag),
                 MISSIVE_ERROR_NULL_POINTER);

    /* Devices and records. */
    MissiveDevice *dev = NULL;
    MissiveAddress a = {"alice", 5, 1};
    MissiveAddress noname = {NULL, 5, 1};
    MissiveAddress empty = {"", 0, 1};
    MissiveAddress notutf8 = {"\xff\xfe", 2, 1};
    CHECK_STATUS(missive_device_new(NULL, 1, &a, &dev), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_device_new(kp, 1, NULL, &dev), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_device_new(kp, 1, &noname, &dev), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_device_new(kp, 1, &empty, &dev), MISSIVE_ERROR_INVALID_NAME);
    CHECK_STATUS(missive_device_new(kp, 1, &notutf8, &dev), MISSIVE_ERROR_INVALID_NAME);
    CHECK(dev == NULL);
    CHECK_OK(missive_device_new(kp, 1, &a, &dev));
    CHECK_STATUS(missive_device_set_receive_policy(dev, 7), MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_device_set_receive_policy(NULL, 0), MISSIVE_ERROR_NULL_POINTER);
    CHECK_OK(missive_device_set_receive_policy(dev, MISSIVE_RECEIVE_REQUIRE_APPROVAL));
    CHECK_OK(missive_device_set_max_archived_sessions(dev, 5000));
    CHECK_OK(missive_device_set_accept_legacy_x3dh(dev, true));
    CHECK_OK(missive_device_set_detailed_errors(dev, true));

    MissiveRecords *rec = NULL;
    CHECK_OK(missive_records_new(&rec));
    CHECK_STATUS(missive_records_new(NULL), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_records_set_session(NULL, &a, NULL, 0), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_records_set_session(rec, NULL, NULL, 0), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_records_set_session(rec, &a, (const uint8_t *)"garbage", 7),
                 MISSIVE_ERROR_DECODE_UNKNOWN_VERSION);
    CHECK_STATUS(missive_records_set_identity(rec, &a, key, 32), MISSIVE_ERROR_DECODE_BAD_LENGTH);
    CHECK_STATUS(missive_records_add_pre_key(rec, NULL, 0), MISSIVE_ERROR_DECODE_TRUNCATED);
    CHECK_STATUS(missive_records_add_signed_pre_key(rec, key, sizeof key),
                 MISSIVE_ERROR_DECODE_UNKNOWN_VERSION);
    CHECK_STATUS(missive_records_add_kyber_pre_key(rec, NULL, 10), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_records_set_kyber_triple_used(rec, 1, 1, key, 3, true),
                 MISSIVE_ERROR_DECODE_BAD_LENGTH);
    uint8_t dist[16] = {0};
    CHECK_STATUS(missive_records_set_sender_key(rec, &a, dist, 15, NULL, 0),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_records_set_sender_key(rec, &a, NULL, 16, NULL, 0),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_records_apply(rec, NULL), MISSIVE_ERROR_NULL_POINTER);

    /* Operations: every pointer checked before anything happens. */
    MissiveChanges *ch = NULL;
    MissiveDecrypted *d = NULL;
    uint32_t type;
    CHECK_STATUS(missive_session_encrypt(NULL, NULL, &a, rec, (const uint8_t *)"x", 1, 0, &type,
                                         &b, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_session_encrypt(dev, NULL, &a, rec, NULL, 1, 0, &type, &b, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_session_encrypt(dev, NULL, &a, rec, (const uint8_t *)"x", 1, 0, NULL,
                                         &b, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_session_decrypt(dev, NULL, &a, NULL, MISSIVE_MESSAGE_WHISPER,
                                         (const uint8_t *)"x", 1, &d, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_session_decrypt(dev, NULL, &a, rec, 9, (const uint8_t *)"x", 1, &d, &ch),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_session_decrypt(dev, NULL, &a, rec, MISSIVE_MESSAGE_WHISPER, NULL, 0, &d,
                                         NULL),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK(d == NULL && ch == NULL);
    CHECK_STATUS(missive_session_archive(dev, &a, NULL, &ch), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_session_process_bundle(dev, NULL, &a, rec, NULL, 0, NULL, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_prekey_message_needs(NULL, 3, NULL), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_group_encrypt(dev, NULL, rec, NULL, 16, (const uint8_t *)"x", 1, &b, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_group_decrypt(dev, rec, &a, NULL, 0, NULL, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_group_decrypt_batch(dev, rec, NULL, 2, NULL, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_group_process_distribution(dev, rec, NULL, (const uint8_t *)"x", 1, &ch),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_sender_key_message_distribution_id(NULL, 0, dist, 16),
                 MISSIVE_ERROR_DECODE_TRUNCATED);
    CHECK_STATUS(missive_sender_key_message_distribution_id((const uint8_t *)"x", 1, dist, 15),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_fingerprint_new(2, 5200, NULL, 3, key, 33, key, 3, key, 33, NULL),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_changes_is_empty(NULL, &flag), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_decrypted_plaintext(NULL, &b), MISSIVE_ERROR_NULL_POINTER);
    CHECK_STATUS(missive_session_record_version(NULL, &u), MISSIVE_ERROR_NULL_POINTER);

    missive_records_free(&rec);
    missive_device_free(&dev);
    missive_identity_key_pair_free(&kp);
}

static int32_t always_fails(void *user, uint8_t *out, size_t len) {
    (void)user;
    (void)out;
    (void)len;
    return 1;
}

static void rng(void) {
    /* The same seed gives the same keys: the callback is what is used. */
    TestRng s1, s2, s3;
    MissiveRng r1 = test_rng(&s1, 42), r2 = test_rng(&s2, 42), r3 = test_rng(&s3, 43);
    MissiveIdentityKeyPair *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(missive_identity_key_pair_generate(&r1, &a));
    CHECK_OK(missive_identity_key_pair_generate(&r2, &b));
    CHECK_OK(missive_identity_key_pair_generate(&r3, &c));
    uint8_t ka[33], kb[33], kc[33];
    CHECK_OK(missive_identity_key_pair_public_key(a, ka, 33));
    CHECK_OK(missive_identity_key_pair_public_key(b, kb, 33));
    CHECK_OK(missive_identity_key_pair_public_key(c, kc, 33));
    CHECK(memcmp(ka, kb, 33) == 0);
    CHECK(memcmp(ka, kc, 33) != 0);
    CHECK(s1.given > 0);

    /* The OS generator (NULL) gives different keys each time. */
    MissiveIdentityKeyPair *o1 = NULL, *o2 = NULL;
    CHECK_OK(missive_identity_key_pair_generate(NULL, &o1));
    CHECK_OK(missive_identity_key_pair_generate(NULL, &o2));
    uint8_t k1[33], k2[33];
    CHECK_OK(missive_identity_key_pair_public_key(o1, k1, 33));
    CHECK_OK(missive_identity_key_pair_public_key(o2, k2, 33));
    CHECK(memcmp(k1, k2, 33) != 0);

    /* A failing callback fails the call and nothing is returned; so does one that fails
     * half way through (a Kyber key needs many bytes). */
    MissiveRng bad = {always_fails, NULL};
    MissiveIdentityKeyPair *none = NULL;
    CHECK_STATUS(missive_identity_key_pair_generate(&bad, &none), MISSIVE_ERROR_RNG_FAILED);
    CHECK(none == NULL);
    TestRng s4;
    MissiveRng late = test_rng(&s4, 7);
    s4.fail_after = 100;
    MissiveKyberPreKeyRecord *kyber = NULL;
    CHECK_STATUS(missive_kyber_pre_key_record_generate(&late, a, 1, 0, false, &kyber),
                 MISSIVE_ERROR_RNG_FAILED);
    CHECK(kyber == NULL);
    /* A MissiveRng without a callback is refused. */
    MissiveRng empty = {NULL, NULL};
    CHECK_STATUS(missive_identity_key_pair_generate(&empty, &none), MISSIVE_ERROR_NULL_POINTER);

    missive_identity_key_pair_free(&a);
    missive_identity_key_pair_free(&b);
    missive_identity_key_pair_free(&c);
    missive_identity_key_pair_free(&o1);
    missive_identity_key_pair_free(&o2);
}

int main(void) {
    version();
    error_codes();
    buffers_and_frees();
    null_pointers_and_lengths();
    rng();
    support_done("test_basics");
    return 0;
}
