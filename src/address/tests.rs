use super::*;

#[test]
fn service_ids() {
    let aci = ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1);
    let sid = aci.service_id_fixed_width().unwrap();
    assert_eq!(sid[0], 0);
    assert_eq!(&sid[1..3], &[0x9d, 0x06]);
    assert_eq!(sid[16], 0x3f);
    let pni = ProtocolAddress::new("PNI:9d0652a3-dcc3-4d11-975f-74d61598733f", 2);
    assert_eq!(pni.service_id_fixed_width().unwrap()[0], 1);
    assert!(
        ProtocolAddress::new("alice", 1)
            .service_id_fixed_width()
            .is_none()
    );
    assert!(
        ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733", 1)
            .service_id_fixed_width()
            .is_none()
    );
    assert!(
        ProtocolAddress::new("9d0652a3xdcc3-4d11-975f-74d61598733f", 1)
            .service_id_fixed_width()
            .is_none()
    );
    let a = encode_addresses(&aci, &pni).unwrap();
    assert_eq!(a[17], 1);
    assert_eq!(a[18], 1);
    assert_eq!(a[35], 2);
    assert!(
        encode_addresses(
            &ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 300),
            &pni
        )
        .is_none()
    );
}
