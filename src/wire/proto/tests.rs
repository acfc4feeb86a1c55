use super::*;

#[test]
fn varint_round_trip_and_limits() {
    for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        let mut r = Reader::new(&out);
        assert_eq!(r.varint().unwrap(), v);
        assert_eq!(r.field().unwrap(), None);
    }
    // 11-byte varint.
    let long = [0x80u8; 10];
    assert_eq!(Reader::new(&long).varint(), Err(DecodeError::Malformed));
    // 10th byte > 1 overflows u64.
    let mut over = [0xffu8; 10];
    over[9] = 0x02;
    assert_eq!(Reader::new(&over).varint(), Err(DecodeError::Malformed));
    assert_eq!(Reader::new(&[0x80]).varint(), Err(DecodeError::Truncated));
}

/// `varint_len` is the length `put_varint` writes, at every width's edges.
#[test]
fn varint_len_matches_the_encoding() {
    let mut edges = alloc::vec![0u64, u64::MAX];
    for bits in (7..64).step_by(7) {
        edges.extend([(1u64 << bits) - 1, 1u64 << bits]);
    }
    for v in edges {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        assert_eq!(varint_len(v), out.len(), "{v}");
    }
    assert_eq!(varint_len(0), 1);
    assert_eq!(varint_len(127), 1);
    assert_eq!(varint_len(128), 2);
    assert_eq!(varint_len(u64::MAX), 10);
}

#[test]
fn fields() {
    let mut out = Vec::new();
    put_uint(&mut out, 2, 7);
    put_bytes(&mut out, 4, b"abc");
    let mut r = Reader::new(&out);
    assert_eq!(r.field().unwrap(), Some((2, Value::Varint(7))));
    assert_eq!(r.field().unwrap(), Some((4, Value::Bytes(b"abc"))));
    assert_eq!(r.field().unwrap(), None);
    // Length past the end.
    let bad = [0x22, 0x05, 1, 2];
    assert_eq!(Reader::new(&bad).field(), Err(DecodeError::Truncated));
    // Group wire type.
    assert_eq!(Reader::new(&[0x13]).field(), Err(DecodeError::Malformed));
    // Field number 0.
    assert_eq!(
        Reader::new(&[0x00, 0x01]).field(),
        Err(DecodeError::Malformed)
    );
}

/// Fixed-width fields (wire types 1 and 5) are skipped whole, as protobuf requires of
/// unknown fields, and refused when cut short; field numbers run up to 2^29 − 1.
#[test]
fn fixed_fields_are_skipped_and_field_numbers_are_bounded() {
    let mut out = Vec::new();
    put_varint(&mut out, (9 << 3) | 1);
    out.extend_from_slice(&[0xAA; 8]);
    put_varint(&mut out, (10 << 3) | 5);
    out.extend_from_slice(&[0xBB; 4]);
    put_uint(&mut out, 2, 7);
    let mut r = Reader::new(&out);
    assert_eq!(r.field().unwrap(), Some((9, Value::Fixed)));
    assert_eq!(r.field().unwrap(), Some((10, Value::Fixed)));
    assert_eq!(r.field().unwrap(), Some((2, Value::Varint(7))));
    assert_eq!(r.field().unwrap(), None);
    assert_eq!(
        Reader::new(&[(9 << 3) | 1, 0, 0, 0, 0, 0, 0, 0]).field(),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        Reader::new(&[(10 << 3) | 5, 0, 0, 0]).field(),
        Err(DecodeError::Truncated)
    );

    let key = |number: u64| {
        let mut k = Vec::new();
        put_varint(&mut k, number << 3);
        k.push(0x01);
        k
    };
    let max = (1u64 << 29) - 1;
    assert_eq!(
        Reader::new(&key(max)).field(),
        Ok(Some((max as u32, Value::Varint(1))))
    );
    for number in [max + 1, max + 2, 1 << 30, u64::from(u32::MAX)] {
        assert_eq!(
            Reader::new(&key(number)).field(),
            Err(DecodeError::Malformed),
            "field number {number}"
        );
    }
}

/// Each typed reading takes exactly its own wire form: a bool is the varint 0 or 1, a
/// uint32 a varint that fits, bytes a length-delimited field, an array bytes of its
/// exact length; anything else is refused, never coerced.
#[test]
fn typed_readings_take_only_their_own_form() {
    assert_eq!(Value::Varint(0).as_bool(), Ok(false));
    assert_eq!(Value::Varint(1).as_bool(), Ok(true));
    for v in [
        Value::Varint(2),
        Value::Varint(u64::MAX),
        Value::Bytes(&[1]),
        Value::Fixed,
    ] {
        assert_eq!(v.as_bool(), Err(DecodeError::Malformed));
    }
    assert_eq!(Value::Varint(u64::from(u32::MAX)).as_u32(), Ok(u32::MAX));
    assert_eq!(
        Value::Varint(u64::from(u32::MAX) + 1).as_u32(),
        Err(DecodeError::BadLength)
    );
    assert_eq!(Value::Bytes(&[7]).as_u32(), Err(DecodeError::Malformed));
    assert_eq!(Value::Varint(u64::MAX).as_u64(), Ok(u64::MAX));
    assert_eq!(Value::Fixed.as_u64(), Err(DecodeError::Malformed));
    assert_eq!(Value::Bytes(b"ab").as_bytes(), Ok(&b"ab"[..]));
    assert_eq!(Value::Varint(5).as_bytes(), Err(DecodeError::Malformed));
    assert_eq!(Value::Bytes(b"abc").as_array::<3>(), Ok(*b"abc"));
    assert_eq!(
        Value::Bytes(b"abc").as_array::<4>(),
        Err(DecodeError::BadLength)
    );
    assert_eq!(
        Value::Varint(3).as_array::<3>(),
        Err(DecodeError::Malformed)
    );
}

/// `count_fields` (the capacity hint decoders size their collections with, so that they
/// never grow and leave copies of key material behind) counts every occurrence of the
/// field, and stops at the first malformed one.
#[test]
fn count_fields_counts_each_occurrence_up_to_the_first_malformed_field() {
    let mut out = Vec::new();
    put_bytes(&mut out, 6, b"a");
    put_uint(&mut out, 2, 1);
    put_bytes(&mut out, 6, b"");
    put_bytes(&mut out, 6, b"bc");
    assert_eq!(count_fields(&out, 6), 3);
    assert_eq!(count_fields(&out, 2), 1);
    assert_eq!(count_fields(&out, 7), 0);
    assert_eq!(count_fields(&[], 6), 0);
    out.push(0x13); // a group wire type: malformed, so counting stops here
    put_bytes(&mut out, 6, b"d");
    assert_eq!(count_fields(&out, 6), 3);
}
