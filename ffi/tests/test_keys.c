/*
 * Keys and bundles: generation, (de)serialization round trips, accessors, and every
 * truncation, bit flip and garbage input refused with an error (never a crash).
 */
#include "support.h"


/* Every strict prefix of `bytes` fails to parse, and so does the record with any one
 * byte changed in a way that breaks its structure; the parser never crashes and never
 * returns a handle with an error. */
static void truncations_fail(const uint8_t *bytes, size_t len,
                             MissiveStatus (*parse)(const uint8_t *, size_t, void **)) {
    for (size_t n = 0; n < len; n++) {
        void *h = (void *)&n;
        MissiveStatus st = parse(bytes, n, &h);
        CHECK(st != MISSIVE_OK);
        CHECK(h == NULL);
    }
}

static MissiveStatus parse_identity(const uint8_t *b, size_t n, void **out) {
    return missive_identity_key_pair_deserialize(b, n, (MissiveIdentityKeyPair **)out);
}
static MissiveStatus parse_pre_key(const uint8_t *b, size_t n, void **out) {
    return missive_pre_key_record_deserialize(b, n, (MissivePreKeyRecord **)out);
}
static MissiveStatus parse_signed(const uint8_t *b, size_t n, void **out) {
    return missive_signed_pre_key_record_deserialize(b, n, (MissiveSignedPreKeyRecord **)out);
}
static MissiveStatus parse_kyber(const uint8_t *b, size_t n, void **out) {
    return missive_kyber_pre_key_record_deserialize(b, n, (MissiveKyberPreKeyRecord **)out);
}
static MissiveStatus parse_bundle(const uint8_t *b, size_t n, void **out) {
    return missive_pre_key_bundle_deserialize(b, n, (MissivePreKeyBundle **)out);
}

/* Flips each bit of `bytes` in turn and parses: any outcome but a crash is allowed (some
 * flips give another valid record), and a success must give a handle. */
static void bit_flips_are_safe(const uint8_t *bytes, size_t len,
                               MissiveStatus (*parse)(const uint8_t *, size_t, void **),
                               void (*release)(void **)) {
    uint8_t *copy = (uint8_t *)malloc(len);
    CHECK(copy != NULL);
    size_t refused = 0;
    for (size_t i = 0; i < len * 8; i += 3) {
        memcpy(copy, bytes, len);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        void *h = NULL;
        MissiveStatus st = parse(copy, len, &h);
        CHECK((st == MISSIVE_OK) == (h != NULL));
        if (st != MISSIVE_OK) {
            refused++;
        }
        release(&h);
    }
    CHECK(refused > 0);
    free(copy);
}

static void release_identity(void **h) { missive_identity_key_pair_free((MissiveIdentityKeyPair **)h); }
static void release_pre_key(void **h) { missive_pre_key_record_free((MissivePreKeyRecord **)h); }
static void release_signed(void **h) { missive_signed_pre_key_record_free((MissiveSignedPreKeyRecord **)h); }
static void release_kyber(void **h) { missive_kyber_pre_key_record_free((MissiveKyberPreKeyRecord **)h); }
static void release_bundle(void **h) { missive_pre_key_bundle_free((MissivePreKeyBundle **)h); }

static void identity(void) {
    MissiveIdentityKeyPair *kp = NULL, *back = NULL;
    MissiveBuffer ser, again;
    uint8_t pub1[33], pub2[33];
    CHECK_OK(missive_identity_key_pair_generate(NULL, &kp));
    CHECK_OK(missive_identity_key_pair_serialize(kp, &ser));
    CHECK_OK(missive_identity_key_pair_deserialize(ser.data, ser.len, &back));
    CHECK_OK(missive_identity_key_pair_public_key(kp, pub1, sizeof pub1));
    CHECK_OK(missive_identity_key_pair_public_key(back, pub2, sizeof pub2));
    CHECK(memcmp(pub1, pub2, 33) == 0);
    CHECK_OK(missive_identity_key_pair_serialize(back, &again));
    CHECK(again.len == ser.len && memcmp(again.data, ser.data, ser.len) == 0);
    truncations_fail(ser.data, ser.len, parse_identity);
    bit_flips_are_safe(ser.data, ser.len, parse_identity, release_identity);
    /* Garbage. */
    MissiveIdentityKeyPair *none = NULL;
    CHECK(missive_identity_key_pair_deserialize((const uint8_t *)"\x01garbage", 8, &none) !=
          MISSIVE_OK);
    CHECK(none == NULL);
    missive_buffer_free(&ser);
    missive_buffer_free(&again);
    missive_identity_key_pair_free(&kp);
    missive_identity_key_pair_free(&back);
}

static void pre_keys(void) {
    MissiveIdentityKeyPair *id = NULL;
    CHECK_OK(missive_identity_key_pair_generate(NULL, &id));

    /* One-time prekey. */
    MissivePreKeyRecord *pk = NULL, *pk2 = NULL;
    MissiveBuffer ser;
    uint32_t n;
    uint8_t a[33], b[33];
    CHECK_OK(missive_pre_key_record_generate(NULL, 77, &pk));
    CHECK_OK(missive_pre_key_record_id(pk, &n));
    CHECK(n == 77);
    CHECK_OK(missive_pre_key_record_serialize(pk, &ser));
    CHECK_OK(missive_pre_key_record_deserialize(ser.data, ser.len, &pk2));
    CHECK_OK(missive_pre_key_record_public_key(pk, a, 33));
    CHECK_OK(missive_pre_key_record_public_key(pk2, b, 33));
    CHECK(memcmp(a, b, 33) == 0);
    CHECK_STATUS(missive_pre_key_record_public_key(pk, a, 10), MISSIVE_ERROR_INVALID_ARGUMENT);
    truncations_fail(ser.data, ser.len, parse_pre_key);
    bit_flips_are_safe(ser.data, ser.len, parse_pre_key, release_pre_key);
    missive_buffer_free(&ser);

    /* Signed prekey: its signature verifies under the identity (checked when a bundle is
     * processed, in test_session); here the round trip and accessors. */
    MissiveSignedPreKeyRecord *spk = NULL, *spk2 = NULL;
    uint64_t ts;
    uint8_t sig1[64], sig2[64];
    CHECK_OK(missive_signed_pre_key_record_generate(NULL, id, 5, 1234567, &spk));
    CHECK_OK(missive_signed_pre_key_record_id(spk, &n));
    CHECK(n == 5);
    CHECK_OK(missive_signed_pre_key_record_timestamp(spk, &ts));
    CHECK(ts == 1234567);
    CHECK_OK(missive_signed_pre_key_record_serialize(spk, &ser));
    CHECK_OK(missive_signed_pre_key_record_deserialize(ser.data, ser.len, &spk2));
    CHECK_OK(missive_signed_pre_key_record_signature(spk, sig1, 64));
    CHECK_OK(missive_signed_pre_key_record_signature(spk2, sig2, 64));
    CHECK(memcmp(sig1, sig2, 64) == 0);
    CHECK_STATUS(missive_signed_pre_key_record_signature(spk, sig1, 63),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_OK(missive_signed_pre_key_record_public_key(spk2, a, 33));
    truncations_fail(ser.data, ser.len, parse_signed);
    bit_flips_are_safe(ser.data, ser.len, parse_signed, release_signed);
    missive_buffer_free(&ser);

    /* Kyber prekeys, one-time and last-resort. */
    MissiveKyberPreKeyRecord *k1 = NULL, *k2 = NULL, *k3 = NULL;
    bool last;
    MissiveBuffer pub;
    CHECK_OK(missive_kyber_pre_key_record_generate(NULL, id, 9, 42, false, &k1));
    CHECK_OK(missive_kyber_pre_key_record_generate(NULL, id, 10, 43, true, &k2));
    CHECK_OK(missive_kyber_pre_key_record_is_last_resort(k1, &last));
    CHECK(!last);
    CHECK_OK(missive_kyber_pre_key_record_is_last_resort(k2, &last));
    CHECK(last);
    CHECK_OK(missive_kyber_pre_key_record_id(k2, &n));
    CHECK(n == 10);
    CHECK_OK(missive_kyber_pre_key_record_timestamp(k2, &ts));
    CHECK(ts == 43);
    CHECK_OK(missive_kyber_pre_key_record_public_key(k1, &pub));
    CHECK(pub.len == MISSIVE_KYBER_PUBLIC_KEY_LEN && pub.data[0] == 0x08);
    missive_buffer_free(&pub);
    CHECK_OK(missive_kyber_pre_key_record_signature(k1, sig1, 64));
    CHECK_OK(missive_kyber_pre_key_record_serialize(k2, &ser));
    CHECK_OK(missive_kyber_pre_key_record_deserialize(ser.data, ser.len, &k3));
    CHECK_OK(missive_kyber_pre_key_record_is_last_resort(k3, &last));
    CHECK(last);
    /* Truncations of a 4.8 KB record: every 7th length (and the last few). */
    for (size_t cut = 0; cut < ser.len; cut += (ser.len - cut > 8 ? 7 : 1)) {
        MissiveKyberPreKeyRecord *h = NULL;
        CHECK(missive_kyber_pre_key_record_deserialize(ser.data, cut, &h) != MISSIVE_OK);
        CHECK(h == NULL);
    }
    {
        /* A few bit flips across the record (every 997th bit). */
        uint8_t *copy = (uint8_t *)malloc(ser.len);
        CHECK(copy != NULL);
        for (size_t i = 0; i < ser.len * 8; i += 997) {
            memcpy(copy, ser.data, ser.len);
            copy[i / 8] ^= (uint8_t)(1u << (i % 8));
            void *h = NULL;
            MissiveStatus st = parse_kyber(copy, ser.len, &h);
            CHECK((st == MISSIVE_OK) == (h != NULL));
            release_kyber(&h);
        }
        free(copy);
    }
    missive_buffer_free(&ser);

    missive_pre_key_record_free(&pk);
    missive_pre_key_record_free(&pk2);
    missive_signed_pre_key_record_free(&spk);
    missive_signed_pre_key_record_free(&spk2);
    missive_kyber_pre_key_record_free(&k1);
    missive_kyber_pre_key_record_free(&k2);
    missive_kyber_pre_key_record_free(&k3);
    missive_identity_key_pair_free(&id);
}

static void bundles(void) {
    MissiveIdentityKeyPair *id = NULL;
    MissivePreKeyRecord *pk = NULL;
    MissiveSignedPreKeyRecord *spk = NULL;
    MissiveKyberPreKeyRecord *kpk = NULL;
    CHECK_OK(missive_identity_key_pair_generate(NULL, &id));
    CHECK_OK(missive_pre_key_record_generate(NULL, 1, &pk));
    CHECK_OK(missive_signed_pre_key_record_generate(NULL, id, 2, 0, &spk));
    CHECK_OK(missive_kyber_pre_key_record_generate(NULL, id, 3, 0, false, &kpk));

    /* From our records, and from the parts a server hands out: the same bundle. */
    MissivePreKeyBundle *mine = NULL, *parts = NULL, *back = NULL, *v3 = NULL;
    CHECK_OK(missive_pre_key_bundle_from_records(id, 1234, 7, pk, spk, kpk, &mine));
    uint8_t ik[33], pkb[33], spkb[33], sig[64], ksig[64];
    MissiveBuffer kyber;
    CHECK_OK(missive_identity_key_pair_public_key(id, ik, 33));
    CHECK_OK(missive_pre_key_record_public_key(pk, pkb, 33));
    CHECK_OK(missive_signed_pre_key_record_public_key(spk, spkb, 33));
    CHECK_OK(missive_signed_pre_key_record_signature(spk, sig, 64));
    CHECK_OK(missive_kyber_pre_key_record_public_key(kpk, &kyber));
    CHECK_OK(missive_kyber_pre_key_record_signature(kpk, ksig, 64));
    CHECK_OK(missive_pre_key_bundle_new(1234, 7, 1, pkb, 33, 2, spkb, 33, sig, 64, ik, 33, 3,
                                        kyber.data, kyber.len, ksig, 64, &parts));
    MissiveBuffer a, b;
    CHECK_OK(missive_pre_key_bundle_serialize(mine, &a));
    CHECK_OK(missive_pre_key_bundle_serialize(parts, &b));
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    CHECK_OK(missive_pre_key_bundle_deserialize(a.data, a.len, &back));
    uint32_t n;
    bool has;
    uint8_t got[33];
    CHECK_OK(missive_pre_key_bundle_registration_id(back, &n));
    CHECK(n == 1234);
    CHECK_OK(missive_pre_key_bundle_device_id(back, &n));
    CHECK(n == 7);
    CHECK_OK(missive_pre_key_bundle_has_kyber_pre_key(back, &has));
    CHECK(has);
    CHECK_OK(missive_pre_key_bundle_identity_key(back, got, 33));
    CHECK(memcmp(got, ik, 33) == 0);
    truncations_fail(a.data, a.len, parse_bundle);
    bit_flips_are_safe(a.data, 200, parse_bundle, release_bundle);

    /* A v3 bundle: no Kyber prekey, no one-time prekey. */
    CHECK_OK(missive_pre_key_bundle_new(1234, 7, 0, NULL, 0, 2, spkb, 33, sig, 64, ik, 33, 0, NULL,
                                        0, NULL, 0, &v3));
    CHECK_OK(missive_pre_key_bundle_has_kyber_pre_key(v3, &has));
    CHECK(!has);

    /* Bad parts: a Kyber key without its signature, keys of the wrong length or type. */
    MissivePreKeyBundle *bad = NULL;
    CHECK_STATUS(missive_pre_key_bundle_new(1, 1, 0, NULL, 0, 2, spkb, 33, sig, 64, ik, 33, 3,
                                            kyber.data, kyber.len, NULL, 0, &bad),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_pre_key_bundle_new(1, 1, 0, NULL, 0, 2, spkb, 32, sig, 64, ik, 33, 0,
                                            NULL, 0, NULL, 0, &bad),
                 MISSIVE_ERROR_DECODE_BAD_LENGTH);
    CHECK_STATUS(missive_pre_key_bundle_new(1, 1, 0, NULL, 0, 2, spkb, 33, sig, 64, ik, 33, 3,
                                            kyber.data, 100, ksig, 64, &bad),
                 MISSIVE_ERROR_DECODE_BAD_LENGTH);
    uint8_t wrong_type[33];
    memcpy(wrong_type, ik, 33);
    wrong_type[0] = 0x06;
    CHECK_STATUS(missive_pre_key_bundle_new(1, 1, 0, NULL, 0, 2, spkb, 33, sig, 64, wrong_type,
                                            33, 0, NULL, 0, NULL, 0, &bad),
                 MISSIVE_ERROR_DECODE_UNKNOWN_TYPE);
    CHECK_STATUS(missive_pre_key_bundle_new(1, 1, 0, NULL, 0, 2, NULL, 33, sig, 64, ik, 33, 0,
                                            NULL, 0, NULL, 0, &bad),
                 MISSIVE_ERROR_NULL_POINTER);
    CHECK(bad == NULL);
    CHECK_STATUS(missive_pre_key_bundle_from_records(id, 1, 1, NULL, NULL, NULL, &bad),
                 MISSIVE_ERROR_NULL_POINTER);

    missive_buffer_free(&a);
    missive_buffer_free(&b);
    missive_buffer_free(&kyber);
    missive_pre_key_bundle_free(&mine);
    missive_pre_key_bundle_free(&parts);
    missive_pre_key_bundle_free(&back);
    missive_pre_key_bundle_free(&v3);
    missive_pre_key_record_free(&pk);
    missive_signed_pre_key_record_free(&spk);
    missive_kyber_pre_key_record_free(&kpk);
    missive_identity_key_pair_free(&id);
}

int main(void) {
    identity();
    pre_keys();
    bundles();
    support_done("test_keys");
    return 0;
}
