//! The decoder against real messages (captured by the corpus files named), built ones, and
//! arbitrary bytes: `scan` must always agree with `parse`.

use std::borrow::Cow;

use proptest::prelude::*;

use super::parse::identity;
use super::payloads::IdFields;
use super::*;
use crate::decode::Malformed;

/// IKEv1 subnet and range IDs, IPv4 and IPv6, as address/mask and first-last.
#[test]
fn subnet_and_range_ids() {
    let v4: Vec<u8> = [10, 0, 0, 0, 255, 255, 255, 0].to_vec();
    let mut v6 = vec![0u8; 32];
    v6[0] = 0x20;
    v6[1] = 0x01;
    v6[16] = 0xff;
    v6[17] = 0xff;
    for (ty, data, want) in [
        (4u8, &v4, "10.0.0.0/255.255.255.0"),
        (7, &v4, "10.0.0.0-255.255.255.0"),
        (6, &v6, "2001::/ffff::"),
        (8, &v6, "2001::-ffff::"),
    ] {
        let f = IdFields { id_type: ty, protocol: 0, port: 0, data };
        assert_eq!(identity(1, "ID", &f).value, want, "type {ty}");
    }
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// ikev1_main_mode.pcap frame 1 UDP payload (168 bytes).
const V1_MM1: &str = concat!(
    "e47a591fd057587f00000000000000000110020000000000000000a80d00003c00000001000000010000003001010001",
    "000000280101000080010007800e0080800200028004000280030001800b0001000c0004000151800d0000144a131c81",
    "070358455c5728f20e95452f0d000014439b59f8ba676c4c7737ae22eab8f5820d0000147d9419a65310ca6f2c179d92",
    "15529d560000001490cb80913ebb696e086381b5ec427b1f",
);

/// ikev1_main_mode.pcap frame 2 UDP payload (108 bytes).
const V1_MM2: &str = concat!(
    "e47a591fd057587fa00b8ef0902bb8ec01100200000000000000006c0d00003c00000001000000010000003001010001",
    "000000280101000080010007800e0080800200028004000280030001800b0001000c000400015180000000144a131c81",
    "070358455c5728f20e95452f",
);

/// ikev1_main_mode.pcap frame 3 UDP payload (284 bytes).
const V1_MM3: &str = concat!(
    "e47a591fd057587fa00b8ef0902bb8ec04100200000000000000011c0a0000843504d3d2ed14e0ca03b851a51a9da2e5",
    "a4c14c1d7ec3e1fbe950025424514b3c69ed7fbb44e09225da52d2a92604a99bf61b7beed7fbfa635e82f065f4fe7807",
    "51354dbe474c3de7207dcf69fdbbed32c1691cc149b318eee00370e65fc3069bbacfb013467173966e9d5f4bc4f3857e",
    "359bba3adbb6efeea516f3897d8534f30d00001889d7c8fbf94b515b521d5d9589c2602021e1a7090d000014afcad713",
    "68a1f1c96b8696fc775701000d00001411bdfe02d056587f2c18125972c324011400000c09002689dfd6b71214000018",
    "1574d64c0165bad16a023f038d45a07498d8d05100000018febf462f1cd75805a7baa28747e769d674f85600",
);

/// ikev1_main_mode.pcap frame 4 UDP payload (304 bytes).
const V1_MM4: &str = concat!(
    "e47a591fd057587fa00b8ef0902bb8ec0410020000000000000001300a0000846d026d5616c45be05e5b898411e9f95d",
    "195cea009ad22c62bef06c571b7cfbc4792f45564ec710ac584aa18d20cbc8f5f8910666b89e4ee2f95abc0230e2cba1",
    "b88ac4bba7fcc818a986c01a4ca865a5eb82884dbec85bfd7d1a303b09894dcf2e3785fd79dba225377cf8cca009ceff",
    "bb6aa38b648c4b05404f1cfaac361aff0d00001815b688421ed5c3dd92d3b86e47a76f0d39cc09e00d00001412f5f28c",
    "457168a9702d9fe274cc01000d000014afcad71368a1f1c96b8696fc775701000d00001455cc29ed902ab8ec53b1df86",
    "7c6109291400000c09002689dfd6b71214000018febf462f1cd75805a7baa28747e769d674f85600000000181574d64c",
    "0165bad16a023f038d45a07498d8d051",
);

/// ikev1_main_mode.pcap frame 5 UDP payload (108 bytes).
const V1_MM5: &str = concat!(
    "e47a591fd057587fa00b8ef0902bb8ec05100201000000000000006ca485a5d5868a3c925dedf2d10d5e47112bc29460",
    "18c76128ed7bb29db061fdabf79a18e75689536d27cbe0921d67f702f347ae6e79dee1094dc86a5a26448ade72830694",
    "e15dca2d9603ebc5f790473d",
);

/// ikev1_main_mode.pcap frame 7 UDP payload (220 bytes).
const V1_QM1: &str = concat!(
    "e47a591fd057587fa00b8ef0902bb8ec08102001635a2e6a000000dc44a0a86d6e3acc9fa7d66875ef90e55ed9e33b3e",
    "74568ce3da9e43ce58eed9c7c18dc57d277e78055a49b518ef03fe3b53841e1e7b49eb71c8b64cc841a65482ab8f7908",
    "195c212841b35a58ca74bfb4f1a5210eb6b07a4c81056c46be909911412a9e17d86c375f709622d4c742c059d4bfad2a",
    "619330ce126c7ca471eba1b03297f963ddd9380dbc355bbbd502575f7498a384ad62abea0d62d30b8e14e7d600920a9e",
    "3ba14ed776214299e59ec549c079bd9d267d0738513b74b06a710fa6",
);

/// ikev1_ipv6_esp.pcap frame 1 UDP payload (124 bytes).
const V1_V6_MM1: &str = concat!(
    "e8836b356b7c1bae000000000000000001100200000000000000007c0d00003800000001000000010000002c01010001",
    "0000002401010000800b0001800c708080010007800e01008003000180020006800400140d000014afcad71368a1f1c9",
    "6b8696fc7757010000000014a9b9b1034f7e50a2513b47b100bb85a9",
);

/// ikev2_four_exchanges_null.pcap frame 1 UDP payload (376 bytes).
const V2_FOUR1: &str = concat!(
    "a88875a8198992a6000000000000000021202208000000000000017822000078000000740101000c0300000c0100000c",
    "800e00800300000c0100000c800e01000300000c0100000c800e00c00300000801000003030000080200000203000008",
    "020000010300000802000004030000080300000203000008030000010300000803000005030000080400000200000008",
    "0400000e2800008800020000b5445bd60cece6fdcd3c96a52cbb7bb426a8c7a0f56a9c38d1b1c4f0c3a6e8e7dba5c733",
    "9b6ed02e757119dfb5b6933ce93b604987fbbc77221b2a0c7cdd32787eff10572bef546c361462f9da34847969a42e51",
    "c755996beac42e6fba961a75de0fc1b23f099380896ee89202122dedac1bd54aa8494ac3d740be4d2a4cf39d29000024",
    "6128ebd023a864e94a7ffb74bf7cce2fd4367322b8b073f942282bd52ebfe3e62900001c00004004442ffe5aea0cee4d",
    "bacc758e801233bdc09a0abf0000001c00004005ba041b5de59955900d818ac54e18b236739d9e8b",
);

/// ikev2_four_exchanges_null.pcap frame 2 UDP payload (60 bytes).
const V2_FOUR2: &str = concat!(
    "a88875a8198992a6000000000000000029202220000000000000003c000000200000400600000001c2221e50c16e123f",
    "2b0c71aefcf0cb3b798782c6",
);

/// ikev2_four_exchanges_null.pcap frame 4 UDP payload (304 bytes).
const V2_FOUR4: &str = concat!(
    "a88875a8198992a671be8358efae7663212022200000000000000130220000300000002c010100040300000c0100000c",
    "800e008003000008020000020300000803000002000000080400000228000088000200005a56714d3abf64e3a3f401ea",
    "d9f5323ff0b77faa5f1e99199b13ac821f0a0c4f854786ca09b7a76aa508bcee11f16369a16d5fa041ca2d9a8dfa8228",
    "c61f2482d2175c5c1a9491fc221bec7a1fa69f656d4c98ba49ae9d721dedf4a02d7ecdfc201dc785a13ed74e4f398276",
    "2a2720ffdfc365ee4e37279af496cd86f881fd1529000024b31c379f272ce2984bd17ca38c8729e1edbc081a14fb0f67",
    "cff81721dfeec1f92900001c00004004fe2bfb7c2c81ed0b61f756b57fac78a75ced8af60000001c00004005905954a7",
    "83be2c37e2ccc4fdd270a532dbe6f428",
);

/// ikev2_four_exchanges_null.pcap frame 5 UDP payload (236 bytes).
const V2_FOUR5: &str = concat!(
    "a88875a8198992a671be8358efae76632e20230800000001000000ec230000d0f606135ad373e70836fda91b63ca4c60",
    "8e1ad58218488c2647ff1e8a912958aa77efbc3068a2ae6ab7c3d0cb1e6fb864df99c62f2cc045708084708154a393c2",
    "f4cbefad1f6848525d49db563e13345a4e6e2fd066c04e2ce291f4714baec6bf328356c446247cab835bda3e8e1aae59",
    "67248f01eb3a1c02a541b4da09b3276b400d50a067542a678468c5f41e54017c00964f1003f8c88896a6f12215a5f1a0",
    "60713cc83802cae3abee18417c0c35dc6f58a01adb96ed1c009c68e3069ae70f4b10afb7736c111ade4d826e",
);

/// ikev2_four_exchanges_null.pcap frame 6 UDP payload (156 bytes).
const V2_FOUR6: &str = concat!(
    "a88875a8198992a671be8358efae76632e202320000000010000009c240000806afe95bc5147b0ad7e4ccb9141c160a4",
    "4f7c6eddc6b29d414ad5e2b882544fdc6c3ee6983ae1408b5764b1649343876454d1bf4d515aaf03c15eafe71be6b4cf",
    "51ab60630c45bcf0e2a2db8eee70095a4e010fdb342adb6d03dae5def9d4907cdfc8ccd6f3da9b7497c58e84a952d983",
    "bafb941ab1de1b0bb9ffad3b",
);

/// ikev2_sa_init_rawip.pcap frame 1 UDP payload (240 bytes).
const V2_RAWIP: &str = concat!(
    "61d3693ce12af52800000000000000002820220800000000000000f02200001c312fd2e1cea72d0f7f3d1ccac96bb0c4",
    "c8d70f39dba193e42100008800020000b0c808b9480d4d4ae92c0e8f115d9338d4d0bb8361cfd19562ee5e2444b7f671",
    "37e472b2aa9b4455bafc4abadd89daa86e0583ffd2abb28933faa3fabf3ee84430c05afeb9652fc9befd377dd9d10001",
    "cd656eb617ba3ba39d0346f91a063bba6d186a3f20188ca0e8e4b79e3e912f13d309a8d655501592f742e408fda88ddc",
    "000000300000002c010100040300000c0100000c800e01000300000802000005030000080300000c0000000804000002",
);

/// ikev2_raw_esp.pcapng frame 1 UDP payload (358 bytes).
const V2_RAWESP1: &str = concat!(
    "05ac0f4d122013f40000000000000000212022080000000000000166220000300000002c010100040300000c0100000c",
    "800e01000300000802000006030000080300000d000000080400001428000068001400000c3b0391afddbafb19610cad",
    "7a55a50ba3730111dfc50f634ff254d949fb342400fa35c9d3c5a517b7bf343b8f4c1e76e91f026f866e93f42134d8b2",
    "cac032059d16edc7cea401663044e48e0da5be949a3b45bbe37cddc196e1c0be71b440f02b00002418a7bf678d74766c",
    "276f7056f3d39ce539b4c9e7841b63dba94add55291a568f2b000017434953434f2d44454c4554452d524541534f4e2b",
    "000013434953434f56504e2d5245562d30322b000017434953434f2d44594e414d49432d524f55544529000015464c45",
    "5856504e2d535550504f525445442900001c000040044fbeaa57ffae70cc08776899742185b6c2bbb55d0000001c0000",
    "4005b16f1538b2b4d28d6f1aa6e8f79d9e92ca33d409",
);

/// ikev2_natt_espudp.pcapng frame 1 UDP payload (304 bytes).
const NATT_V2_1: &str = concat!(
    "0000000089922c915f35570e000000000000000021202208000000000000012c2200002800000024010100030300000c",
    "01000014800e0100030000080200000500000008040000132800004800130000db253178440ce776a794133cb8b69e5e",
    "b074733536570c64d7b630549c899c0712d828b37168500885e051024578afc75c101f73b8943cad62d74a30f2be1fca",
    "2b00002c09cb538b2c3dbd4d0bb0eec8d318cb801a9b4715b207828d9b5ff1f4ec64ed58863707bcf14ccf052b000014",
    "eb4c1b788afd4a9cb7730a68d56c53212b000014c61baca1f1a60cc108000000000000002b0000184048b7d56ebce885",
    "25e7de7f00d6c2d3c0000000290000144048b7d56ebce88525e7de7f00d6c2d3290000080000402e2900000800004016",
    "000000100000402f0001000200030004",
);

/// ikev2_natt_espudp.pcapng frame 2 UDP payload (309 bytes).
const NATT_V2_2: &str = concat!(
    "0000000089922c915f35570e98d56d32e2a047422120222000000000000001312200002800000024010100030300000c",
    "01000014800e01000300000802000005000000080400001328000048001300001d9cd5974c950c95e0544483fb1f7a91",
    "32f5fe8959c09ab3a54c779ff2bcf4522a030dc33b9d5ddfeb99e028c0e8ba7d80dfdcf12b1516dbe180e6aec664428b",
    "2600002c1d107dc5a7463da7d761014139fb381af9cd3b8c0181e6cd36a8ae105e55aa7fe71f5db1d36c29152b000005",
    "042b0000184048b7d56ebce88525e7de7f00d6c2d3c00000002b0000144048b7d56ebce88525e7de7f00d6c2d32b0000",
    "14c6f57ac398f493208145b7581e8789832900001485817703c6e320d2ae5a4dd02056c6d7290000080000402e290000",
    "100000402f00010002000300040000000800004014",
);

/// ikev2_natt_espudp.pcapng frame 13 UDP payload (76 bytes).
const NATT_V2_13: &str = concat!(
    "0000000089922c915f35570e98d56d32e2a047422e20250800000002000000482a00002cbe1114ab1abe02967b5d1323",
    "eb00f45b02218014621b8e239faddcc352755107114f071413ebf164",
);

/// ikev1_natt_4500_espudp.pcap frame 7 UDP payload (328 bytes).
const NATT_V1_7: &str = concat!(
    "000000009e89f2388f90bc1e0a74357ce3d1a4bf051002010000000000000144a02460dc0eb4dda5061fa741aca029cb",
    "4bacada4ea3fe12490f8947b13267ed5404dd21f0689f710fb4903cdd8e8f1e6e2b5840486415e2b19060c76748fa55d",
    "e73c272625da54e65803aff9a4a60487ac91715746ef40b217e204f050f0aa120b9bea43dff7643664ab9e893ad3ce6c",
    "b6217eceef02a347a36fd0287186fb0f186841e9f82453ceef76d0557c62f61bc12db67402c664b53d1eda0b3c6687c3",
    "206852f0cc9e92d174b2adcae09538d62418445625cbc10338bab7c86b8c6c3fe1c6f3f603c9449e7c386defe57f2847",
    "6f305cebac71949f458e0c98b6ac03efa60ef47955057142861592c8d99272623f673ef3c177cd5d2f6e511a09112602",
    "49ca77271feb1e74b91c3e5310d1f4e5909eb70e86b77fe2fb7e72ace207067c6a34b84f1a40b3d9",
);

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ikev1_main_mode_first_message() {
    // Reference: Zeek spicy-ipsec ipsec.log and Suricata eve for ikev1_main_mode.pcap.
    let m = parse(&unhex(V1_MM1)).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.version, 1);
    assert_eq!(m.initiator_spi, 0xe47a591fd057587f);
    assert_eq!(m.responder_spi, 0);
    assert_eq!(m.exchange_type, 2);
    assert_eq!(m.exchange_name, "MAIN_MODE");
    assert_eq!(m.message_id, 0);
    assert_eq!(m.length, 168);
    assert_eq!(m.is_response, None);
    assert!(!m.encrypted);
    assert_eq!(m.payloads, strs(&["SA", "VendorID", "VendorID", "VendorID", "VendorID"]));
    assert_eq!(
        m.vendor_ids,
        strs(&[
            "RFC 3947 NAT-T",
            "draft-ietf-ipsec-nat-t-ike-07",
            "draft-ietf-ipsec-nat-t-ike-03",
            "draft-ietf-ipsec-nat-t-ike-02\\n"
        ])
    );
    assert_eq!(m.initiator_spi_hex(), "e47a591fd057587f");
    assert_eq!(m.responder_spi_hex(), None);
    assert!(m.announces_nat_t());
    assert_eq!(m.proposals.len(), 1);
    let p = &m.proposals[0];
    assert_eq!(p.number, 1);
    assert_eq!(p.protocol, "IKE");
    assert_eq!(p.encryption, strs(&["AES_CBC_128"]));
    assert_eq!(p.integrity, strs(&["SHA1"]));
    assert_eq!(p.dh, strs(&["MODP_1024"]));
    assert_eq!(p.other, strs(&["auth=PSK", "life=86400s"]));
}

#[test]
fn ikev1_main_mode_responses_and_key_exchange() {
    let m2 = parse(&unhex(V1_MM2)).unwrap();
    assert_eq!(m2.responder_spi, 0xa00b8ef0902bb8ec);
    assert_eq!(m2.payloads, strs(&["SA", "VendorID"]));
    assert_eq!(m2.vendor_ids, strs(&["RFC 3947 NAT-T"]));
    assert_eq!(m2.proposals[0].encryption, strs(&["AES_CBC_128"]));

    let m3 = parse(&unhex(V1_MM3)).unwrap();
    assert_eq!(m3.malformed, None);
    assert_eq!(m3.payloads, strs(&["KE", "Nonce", "VendorID", "VendorID", "VendorID", "NAT-D", "NAT-D"]));
    assert_eq!(m3.vendor_ids, strs(&["DPD (RFC 3706)", "unknown:11bdfe02d056587f2c18125972c32401", "XAUTH"]));
    assert_eq!(m3.ke_group, None);

    let m4 = parse(&unhex(V1_MM4)).unwrap();
    assert_eq!(
        m4.vendor_ids,
        strs(&["Cisco Unity", "DPD (RFC 3706)", "unknown:55cc29ed902ab8ec53b1df867c610929", "XAUTH"])
    );
}

#[test]
fn ikev1_encrypted_messages() {
    let m5 = parse(&unhex(V1_MM5)).unwrap();
    assert!(m5.encrypted);
    assert_eq!(m5.first_payload, 5);
    assert_eq!(m5.payloads, strs(&["Encrypted"]));
    assert_eq!(m5.encrypted_payloads, 1);
    assert_eq!(m5.malformed, None);

    let qm = parse(&unhex(V1_QM1)).unwrap();
    assert_eq!(qm.exchange_name, "QUICK_MODE");
    assert_eq!(qm.message_id, 1666854506);
    assert!(qm.encrypted);
    assert_eq!(qm.length, 220);
}

#[test]
fn ikev1_ipv6_main_mode_proposal() {
    // tshark: AES-CBC 256, SHA2-512, PSK, group 20, life 28800 s, DPD VID + unknown VID.
    let m = parse(&unhex(V1_V6_MM1)).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.initiator_spi, 0xe8836b356b7c1bae);
    let p = &m.proposals[0];
    assert_eq!(p.encryption, strs(&["AES_CBC_256"]));
    assert_eq!(p.integrity, strs(&["SHA2_512"]));
    assert_eq!(p.dh, strs(&["ECP_384"]));
    assert_eq!(p.other, strs(&["life=28800s", "auth=PSK"]));
    assert_eq!(m.vendor_ids[0], "DPD (RFC 3706)");
    assert!(m.vendor_ids[1].starts_with("unknown:a9b9b103"));
}

#[test]
fn ikev1_nat_t_on_4500_after_marker() {
    let udp = unhex(NATT_V1_7);
    assert_eq!(&udp[..4], &[0, 0, 0, 0]);
    let m = parse(&udp[4..]).unwrap();
    assert_eq!(m.initiator_spi, 0x9e89f2388f90bc1e);
    assert_eq!(m.exchange_name, "MAIN_MODE");
    assert!(m.encrypted);
    assert!(looks_like_ike(&udp[4..]));
    assert!(!looks_like_ike(&udp));
}

#[test]
fn ikev2_sa_init_with_transforms_and_nat_detection() {
    // tcpdump -v ref: 12 transforms (aes 128/256/192, 3des, prf sha/md5/xcbc, integ, dh).
    let m = parse(&unhex(V2_FOUR1)).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.version, 2);
    assert_eq!(m.initiator_spi, 0xa88875a8198992a6);
    assert_eq!(m.exchange_name, "IKE_SA_INIT");
    assert_eq!(m.initiator, Some(true));
    assert_eq!(m.is_response, Some(false));
    assert_eq!(m.payloads, strs(&["SA", "KE", "Nonce", "Notify", "Notify"]));
    assert_eq!(m.payload_types, vec![33, 34, 40, 41, 41]);
    let p = &m.proposals[0];
    assert_eq!(p.protocol, "IKE");
    assert_eq!(p.encryption, strs(&["AES_CBC_128", "AES_CBC_256", "AES_CBC_192", "3DES_CBC"]));
    assert_eq!(p.prf, strs(&["PRF_HMAC_SHA1", "PRF_HMAC_MD5", "PRF_AES128_XCBC"]));
    assert_eq!(p.integrity, strs(&["AUTH_HMAC_SHA1_96", "AUTH_HMAC_MD5_96", "AUTH_AES_XCBC_96"]));
    assert_eq!(p.dh, strs(&["MODP_1024", "MODP_2048"]));
    assert_eq!(m.ke_group.map(|g| g.label()), Some("MODP_1024".to_string()));
    assert!(m.ke_group.unwrap().is_weak());
    let n: Vec<&str> = m.notifies.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(n, ["NAT_DETECTION_SOURCE_IP", "NAT_DETECTION_DESTINATION_IP"]);
    assert_eq!(m.notifies[0].kind, 16388);
}

#[test]
fn ikev2_cookie_response() {
    let m = parse(&unhex(V2_FOUR2)).unwrap();
    assert_eq!(m.is_response, Some(true));
    assert_eq!(m.initiator, Some(false));
    assert_eq!(m.payloads, strs(&["Notify"]));
    let c = &m.notifies[0];
    assert_eq!(c.name, "COOKIE");
    assert_eq!(c.kind, 16390);
    assert_eq!(c.detail.as_deref(), Some("00000001c2221e50c16e123f2b0c71aefcf0cb3b798782c6"));
    assert_eq!(m.notify_names(), ["COOKIE"]);
    assert!(!m.announces_nat_t());
    let r = parse(&unhex(V2_FOUR4)).unwrap();
    assert_eq!(r.responder_spi_hex().as_deref(), Some("71be8358efae7663"));
}

#[test]
fn ikev2_chosen_proposal_and_encrypted_auth() {
    let m = parse(&unhex(V2_FOUR4)).unwrap();
    assert_eq!(m.is_response, Some(true));
    let p = &m.proposals[0];
    assert_eq!(p.encryption, strs(&["AES_CBC_128"]));
    assert_eq!(p.prf, strs(&["PRF_HMAC_SHA1"]));
    assert_eq!(p.integrity, strs(&["AUTH_HMAC_SHA1_96"]));
    assert_eq!(p.dh, strs(&["MODP_1024"]));

    let a = parse(&unhex(V2_FOUR5)).unwrap();
    assert_eq!(a.exchange_name, "IKE_AUTH");
    assert_eq!(a.message_id, 1);
    assert!(a.encrypted);
    assert_eq!(a.encrypted_payloads, 1);
    assert_eq!(a.payloads, strs(&["Encrypted"]));
    assert_eq!(a.malformed, None);
    let r = parse(&unhex(V2_FOUR6)).unwrap();
    assert_eq!(r.is_response, Some(true));
}

#[test]
fn ikev2_weak_dh_rawip() {
    // Suricata ref: payload order Nonce, KE, SA; weak DH (group 2) alert.
    let m = parse(&unhex(V2_RAWIP)).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.initiator_spi, 0x61d3693ce12af528);
    assert_eq!(m.payloads, strs(&["Nonce", "KE", "SA"]));
    let g = m.ke_group.unwrap();
    assert_eq!((g.number, g.name), (2, Some("MODP_1024")));
    assert!(g.is_weak());
    let p = &m.proposals[0];
    assert_eq!(p.encryption, strs(&["AES_CBC_256"]));
    assert_eq!(p.prf, strs(&["PRF_HMAC_SHA2_256"]));
    assert_eq!(p.integrity, strs(&["AUTH_HMAC_SHA2_256_128"]));
    assert_eq!(p.dh, strs(&["MODP_1024"]));
    assert!(looks_like_ike(&unhex(V2_RAWIP)));
}

#[test]
fn ikev2_cisco_vendor_ids() {
    let m = parse(&unhex(V2_RAWESP1)).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.proposals[0].encryption, strs(&["AES_CBC_256"]));
    assert_eq!(m.proposals[0].dh, strs(&["ECP_384"]));
    assert_eq!(m.ke_group.map(|g| g.number), Some(20));
    assert_eq!(
        m.vendor_ids,
        strs(&["Cisco Delete Reason", "Cisco VPN Revision 2", "Cisco Dynamic Route", "Cisco FlexVPN"])
    );
}

#[test]
fn ikev2_nat_t_4500_with_marker() {
    let udp = unhex(NATT_V2_1);
    let m = parse(&udp[4..]).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.initiator_spi, 0x89922c915f35570e);
    assert_eq!(m.proposals[0].encryption, strs(&["AES_GCM_16_256"]));
    assert_eq!(m.proposals[0].prf, strs(&["PRF_HMAC_SHA2_256"]));
    assert_eq!(m.proposals[0].dh, strs(&["ECP_256"]));
    assert!(m.vendor_ids.contains(&"FRAGMENTATION".to_string()));
    let n: Vec<&str> = m.notifies.iter().map(|n| n.name.as_str()).collect();
    assert!(n.contains(&"IKEV2_FRAGMENTATION_SUPPORTED"));
    assert!(n.contains(&"REDIRECT_SUPPORTED"));
    let sha = m.notifies.iter().find(|n| n.kind == 16431).unwrap();
    assert!(sha.detail.as_deref().unwrap().contains("SHA2_256"));

    let r = parse(&unhex(NATT_V2_2)[4..]).unwrap();
    assert_eq!(r.responder_spi, 0x98d56d32e2a04742);
    assert!(r.payloads.contains(&"CERTREQ".to_string()));

    let i = parse(&unhex(NATT_V2_13)[4..]).unwrap();
    assert_eq!(i.exchange_name, "INFORMATIONAL");
    assert_eq!(i.payloads, strs(&["Encrypted"]));
}

/// Build an IKEv2 message from payloads `(type, body)`.
fn v2_msg(exch: u8, flags: u8, payloads: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&0x1122334455667788u64.to_be_bytes());
    m.extend_from_slice(&0x99aabbccddeeff00u64.to_be_bytes());
    m.push(payloads.first().map_or(0, |p| p.0));
    m.extend_from_slice(&[0x20, exch, flags, 0, 0, 0, 1, 0, 0, 0, 0]);
    for (i, (_, body)) in payloads.iter().enumerate() {
        m.push(payloads.get(i + 1).map_or(0, |p| p.0));
        m.push(0);
        m.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
        m.extend_from_slice(body);
    }
    let len = u32::try_from(m.len()).unwrap().to_be_bytes();
    m[24..28].copy_from_slice(&len);
    m
}

#[test]
fn ikev2_config_ids_delete_fragment_built_from_rfc_layouts() {
    // CP CFG_REPLY (RFC 7296 §3.15) with INTERNAL_IP4_ADDRESS and P_CSCF_IP4_ADDRESS (RFC 7651).
    let mut cp = vec![2, 0, 0, 0];
    cp.extend_from_slice(&[0, 1, 0, 4, 198, 19, 1, 2]);
    cp.extend_from_slice(&[0, 20, 0, 4, 198, 19, 0, 1]);
    cp.extend_from_slice(&[0, 21, 0, 0]);
    let mut idi = vec![3, 0, 0, 0];
    idi.extend_from_slice(b"0310260000000001@nai.epc.mnc260.mcc310.3gppnetwork.org");
    let idr = vec![2, 0, 0, 0, b'i', b'm', b's'];
    // Delete ESP (RFC 7296 §3.11): protocol 3, SPI size 4, 2 SPIs.
    let del = vec![3, 4, 0, 2, 0xc1, 0xa2, 0xb3, 0xc4, 0, 0, 0, 9];
    // Notify REKEY_SA on ESP with SPI.
    let n = vec![3, 4, 0x40, 0x09, 0xde, 0xad, 0xbe, 0xef];
    // INVALID_KE_PAYLOAD with group 14.
    let ike = vec![0, 0, 0, 17, 0, 14];
    let m = v2_msg(35, 0x20, &[(35, idi), (36, idr), (47, cp), (42, del), (41, n), (41, ike)]);
    let m = parse(&m).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.is_response, Some(true));
    assert_eq!(m.ids[0].payload, "IDi");
    assert_eq!(m.ids[0].type_name, "ID_RFC822_ADDR");
    assert_eq!(m.ids[0].value, "0310260000000001@nai.epc.mnc260.mcc310.3gppnetwork.org");
    assert_eq!((m.ids[1].type_name.as_str(), m.ids[1].value.as_str()), ("ID_FQDN", "ims"));
    assert_eq!(m.config_type.as_deref(), Some("CFG_REPLY"));
    let cfg: Vec<(&str, Option<&str>)> = m.config.iter().map(|c| (c.name.as_str(), c.value.as_deref())).collect();
    assert_eq!(
        cfg,
        [
            ("INTERNAL_IP4_ADDRESS", Some("198.19.1.2")),
            ("P_CSCF_IP4_ADDRESS", Some("198.19.0.1")),
            ("P_CSCF_IP6_ADDRESS", None)
        ]
    );
    assert_eq!(m.deletes[0].protocol_name, "ESP");
    assert_eq!(m.deletes[0].spis, strs(&["c1a2b3c4", "00000009"]));
    assert_eq!(m.notifies[0].name, "REKEY_SA");
    assert_eq!(m.notifies[0].spi.as_deref(), Some("deadbeef"));
    assert_eq!(m.notifies[1].name, "INVALID_KE_PAYLOAD");
    assert_eq!(m.notifies[1].detail.as_deref(), Some("MODP_2048"));

    // SKF (RFC 7383): fragment 2 of 3.
    let f = v2_msg(35, 0x08, &[(53, vec![0, 2, 0, 3, 0xaa, 0xbb])]);
    let f = parse(&f).unwrap();
    assert_eq!(f.fragment, Some(Fragment { number: 2, total: Some(3) }));
    assert!(f.encrypted);
    assert_eq!(f.payloads, strs(&["EncryptedFragment"]));
}

#[test]
fn ikev1_informational_dpd_and_delete() {
    // IKEv1 header + Notify R-U-THERE (DOI 1, proto ISAKMP, spi size 16, seq 7) + Delete ESP.
    let mut m = Vec::new();
    m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    m.extend_from_slice(&[11, 0x10, 5, 0, 0, 0, 0, 7, 0, 0, 0, 0]);
    let mut n = vec![12, 0, 0, 0, 0, 0, 0, 1, 1, 16, 0x8d, 0x28];
    n.extend_from_slice(&[0xab; 16]);
    n.extend_from_slice(&7u32.to_be_bytes());
    let nl = u16::try_from(n.len()).unwrap().to_be_bytes();
    n[2..4].copy_from_slice(&nl);
    let d = [0, 0, 0, 16, 0, 0, 0, 1, 3, 4, 0, 1, 0xf4, 0xdc, 0x0a, 0xe5];
    m.extend_from_slice(&n);
    m.extend_from_slice(&d);
    let l = u32::try_from(m.len()).unwrap().to_be_bytes();
    m[24..28].copy_from_slice(&l);
    assert!(looks_like_ike(&m));
    let p = parse(&m).unwrap();
    assert_eq!(p.malformed, None);
    assert_eq!(p.exchange_name, "INFORMATIONAL");
    assert_eq!(p.payloads, strs(&["Notify", "Delete"]));
    assert_eq!(p.notifies[0].name, "R-U-THERE");
    assert_eq!(p.notifies[0].detail.as_deref(), Some("seq=7"));
    assert_eq!(p.notifies[0].spi.as_deref(), Some("abababababababababababababababab"));
    assert_eq!(p.deletes[0].protocol_name, "ESP");
    assert_eq!(p.deletes[0].spis, strs(&["f4dc0ae5"]));
}

#[test]
fn damage_keeps_header() {
    let mut b = unhex(V2_FOUR1);
    // Second payload (KE) length field set to 2: walk stops, header and SA survive.
    let ke_at = 28 + usize::from(u16::from_be_bytes([b[30], b[31]]));
    b[ke_at + 2] = 0;
    b[ke_at + 3] = 2;
    let m = parse(&b).unwrap();
    assert_eq!(m.initiator_spi, 0xa88875a8198992a6);
    assert_eq!(m.malformed, Some("ike payload length below 4"));
    assert_eq!(m.payloads, strs(&["SA"]));
    assert_eq!(m.proposals.len(), 1);

    // Truncated capture: length field longer than the bytes present.
    let full = unhex(V2_FOUR1);
    let m = parse(&full[..100]).unwrap();
    assert_eq!(m.malformed, Some("ike length past datagram end"));
    assert_eq!(m.responder_spi, 0);

    assert_eq!(parse(&full[..27]), Err(Malformed::new("ike header truncated")));
    let mut v3 = full.clone();
    v3[17] = 0x30;
    assert_eq!(parse(&v3), Err(Malformed::new("ike major version unknown")));
}

#[test]
fn looks_like_ike_is_strict() {
    let good = unhex(V2_FOUR1);
    assert!(looks_like_ike(&good));
    let mut b = good.clone();
    b.push(0);
    assert!(!looks_like_ike(&b), "length must match the datagram");
    let mut b = good.clone();
    b[18] = 99;
    assert!(!looks_like_ike(&b), "unknown exchange");
    let mut b = good.clone();
    b[..8].fill(0);
    assert!(!looks_like_ike(&b), "zero initiator SPI");
    let mut b = good.clone();
    b[16] = 1;
    assert!(!looks_like_ike(&b), "IKEv1 payload type in IKEv2 message");
    let mut b = good.clone();
    b[19] |= 0x01;
    assert!(!looks_like_ike(&b), "reserved flag bit");
    assert!(!looks_like_ike(&[0u8; 40]));
    assert!(!looks_like_ike(b"INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n"));
}

/// Build an IKEv1 (unencrypted) message from payloads `(type, body)`.
fn v1_msg(exch: u8, payloads: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&0x0102030405060708u64.to_be_bytes());
    m.extend_from_slice(&0x1112131415161718u64.to_be_bytes());
    m.push(payloads.first().map_or(0, |p| p.0));
    m.extend_from_slice(&[0x10, exch, 0, 0x63, 0x5a, 0x2e, 0x6a, 0, 0, 0, 0]);
    for (i, (_, body)) in payloads.iter().enumerate() {
        m.push(payloads.get(i + 1).map_or(0, |p| p.0));
        m.push(0);
        m.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
        m.extend_from_slice(body);
    }
    let len = u32::try_from(m.len()).unwrap().to_be_bytes();
    m[24..28].copy_from_slice(&len);
    m
}

#[test]
fn ikev1_quick_mode_esp_proposal_from_rfc2407_layout() {
    // SA (DOI 1, SIT_IDENTITY_ONLY) / Proposal #1 ESP, SPI f4dc0ae5, 2 transforms:
    //  T1 ESP_AES(12): life seconds 3600, encap UDP_TUNNEL(3), auth HMAC-SHA(2), keylen 256,
    //                  group 14 (PFS)
    //  T2 ESP_3DES(3): encap TUNNEL, auth HMAC-MD5, life 4608000 KB as a 4-byte TLV
    let t1_attrs: Vec<u8> =
        [[0x80, 1, 0, 1], [0x80, 2, 0x0e, 0x10], [0x80, 4, 0, 3], [0x80, 5, 0, 2], [0x80, 6, 1, 0], [0x80, 3, 0, 14]]
            .concat();
    let mut t2_attrs: Vec<u8> = [[0x80, 4, 0, 1], [0x80, 5, 0, 1], [0x80, 1, 0, 2]].concat();
    t2_attrs.extend_from_slice(&[0, 2, 0, 4, 0x00, 0x46, 0x50, 0x00]);
    let transform = |more: u8, num: u8, id: u8, attrs: &[u8]| {
        let mut t = vec![more, 0, 0, 0, num, id, 0, 0];
        t.extend_from_slice(attrs);
        let l = u16::try_from(t.len()).unwrap().to_be_bytes();
        t[2..4].copy_from_slice(&l);
        t
    };
    let mut prop = vec![0, 0, 0, 0, 1, 3, 4, 2, 0xf4, 0xdc, 0x0a, 0xe5];
    prop.extend(transform(3, 1, 12, &t1_attrs));
    prop.extend(transform(0, 2, 3, &t2_attrs));
    let pl = u16::try_from(prop.len()).unwrap().to_be_bytes();
    prop[2..4].copy_from_slice(&pl);
    let mut sa = vec![0, 0, 0, 1, 0, 0, 0, 1];
    sa.extend(prop);
    // Aggressive-mode style ID: ID_IPV4_ADDR 192.1.2.23, UDP port 500.
    let id = vec![1, 17, 1, 0xf4, 192, 1, 2, 23];
    let m = parse(&v1_msg(32, &[(1, sa), (5, id)])).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.exchange_name, "QUICK_MODE");
    assert_eq!(m.message_id, 0x635a2e6a);
    assert_eq!(m.proposals.len(), 2);
    let a = &m.proposals[0];
    assert_eq!(a.protocol, "ESP");
    assert_eq!(a.encryption, strs(&["AES_CBC_256"]));
    assert_eq!(a.integrity, strs(&["AUTH_HMAC_SHA1_96"]));
    assert_eq!(a.dh, strs(&["MODP_2048"]));
    assert_eq!(a.other, strs(&["transform=1", "spi=f4dc0ae5", "life=3600s", "mode=UDP_TUNNEL"]));
    let b = &m.proposals[1];
    assert_eq!(b.encryption, strs(&["3DES_CBC"]));
    assert_eq!(b.integrity, strs(&["AUTH_HMAC_MD5_96"]));
    assert_eq!(b.other, strs(&["transform=2", "spi=f4dc0ae5", "mode=TUNNEL", "life=4608000KB"]));
    let i = &m.ids[0];
    assert_eq!((i.type_name.as_str(), i.value.as_str(), i.protocol, i.port), ("ID_IPV4_ADDR", "192.1.2.23", 17, 500));
}

#[test]
fn ikev1_mode_cfg_attributes() {
    // Transaction exchange, Attributes payload CFG_REPLY id 0x1234:
    // INTERNAL_IP4_ADDRESS (TLV) 10.1.2.3, XAUTH_STATUS (TV) 1, UNITY_BANNER text.
    let mut a = vec![2, 0, 0x12, 0x34];
    a.extend_from_slice(&[0, 1, 0, 4, 10, 1, 2, 3]);
    a.extend_from_slice(&[0x80 | 0x40, 0x8f, 0, 1]);
    a.extend_from_slice(&[0x70, 0x00, 0, 5]);
    a.extend_from_slice(b"hi\x07yo");
    let m = parse(&v1_msg(6, &[(14, a)])).unwrap();
    assert_eq!(m.malformed, None);
    assert_eq!(m.exchange_name, "TRANSACTION");
    assert_eq!(m.config_type.as_deref(), Some("CFG_REPLY"));
    let cfg: Vec<(&str, Option<&str>)> = m.config.iter().map(|c| (c.name.as_str(), c.value.as_deref())).collect();
    assert_eq!(
        cfg,
        [("INTERNAL_IP4_ADDRESS", Some("10.1.2.3")), ("XAUTH_STATUS", Some("1")), ("UNITY_BANNER", Some("hi.yo"))]
    );
}

#[test]
fn payload_walk_is_bounded() {
    // 100 empty VendorID payloads chained: the walk stops at MAX_PAYLOADS with a reason.
    let payloads: Vec<(u8, Vec<u8>)> = (0..100).map(|_| (43, Vec::new())).collect();
    let m = parse(&v2_msg(37, 0, &payloads)).unwrap();
    assert_eq!(m.payloads.len(), MAX_PAYLOADS);
    assert_eq!(m.malformed, Some("ike too many payloads"));
    assert_eq!(m.initiator_spi, 0x1122334455667788);
}

/// `scan` must tell the aggregator exactly what `parse` would have: same `Err`, same
/// malformed reason, and the same lists once rendered.
fn scan_agrees_with_parse(b: &[u8]) {
    let (m, s) = match (parse(b), scan(b)) {
        (Ok(m), Ok(s)) => (m, s),
        (Err(e), Err(f)) => return assert_eq!(e, f),
        (m, s) => panic!("parse {m:?} but scan {s:?}"),
    };
    let h = &s.header;
    assert_eq!(s.malformed, m.malformed);
    assert_eq!(
        (h.version, h.initiator_spi, h.responder_spi, h.message_id),
        (m.version, m.initiator_spi, m.responder_spi, m.message_id)
    );
    assert_eq!((h.initiator(), h.is_response()), (m.initiator, m.is_response));
    assert_eq!(s.exchange_name(), m.exchange_name);
    assert_eq!(s.encrypted_payloads, m.encrypted_payloads);
    assert_eq!(s.ke_group, m.ke_group);
    let names: Vec<String> = s.payload_names().map(Cow::into_owned).collect();
    assert_eq!(names, m.payloads);
    assert_eq!(s.payload_count, m.payloads.len());
    let kinds: Vec<u16> = s.notify_kinds().collect();
    assert_eq!(kinds, m.notifies.iter().map(|n| n.kind).collect::<Vec<_>>());
    assert_eq!(s.has_notify, !m.notifies.is_empty());
    let vids: Vec<String> = s.vendor_ids().map(names::vendor_id).collect();
    assert_eq!(vids, m.vendor_ids);
    assert_eq!(s.has_vendor_id, !m.vendor_ids.is_empty());
    assert_eq!(s.proposals(), m.proposals);
    assert_eq!(s.deletes_ike_sa, m.deletes.iter().any(|d| d.protocol == 1));
    let errors_below = if m.version == 2 { 16384 } else { 8192 };
    let error_notify = m.notifies.iter().any(|n| n.kind != 0 && n.kind < errors_below);
    assert_eq!(s.error_notify, error_notify);
    let nat_d =
        m.notifies.iter().any(|n| n.name.starts_with("NAT_DETECTION")) || m.payloads.iter().any(|p| p == "NAT-D");
    assert_eq!(s.nat_detection, nat_d);
}

#[test]
fn scan_agrees_with_parse_on_real_messages() {
    let all = [
        V1_MM1, V1_MM2, V1_MM3, V1_MM4, V1_MM5, V1_QM1, V1_V6_MM1, V2_FOUR1, V2_FOUR2, V2_FOUR4, V2_FOUR5, V2_FOUR6,
        V2_RAWIP, V2_RAWESP1,
    ];
    for src in all {
        let b = unhex(src);
        for cut in 0..=b.len() {
            scan_agrees_with_parse(&b[..cut]);
        }
    }
}

/// Payload types with a body reader, and a few without, for both versions.
const TYPES: [u8; 22] = [1, 5, 11, 12, 13, 14, 20, 130, 132, 33, 34, 35, 36, 41, 42, 43, 46, 47, 53, 40, 0x7f, 3];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&data);
        let _ = looks_like_ike(&data);
        scan_agrees_with_parse(&data);
    }

    #[test]
    fn built_messages_scan_like_parse(
        v1 in any::<bool>(),
        flags in any::<u8>(),
        payloads in proptest::collection::vec(
            (proptest::sample::select(&TYPES[..]), proptest::collection::vec(any::<u8>(), 0..48)),
            0..8,
        ),
        cut in any::<usize>(),
    ) {
        let mut b = if v1 { v1_msg(2, &payloads) } else { v2_msg(34, 0, &payloads) };
        b[19] = flags;
        let n = b.len();
        b.truncate(cut % (n + 1));
        scan_agrees_with_parse(&b);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        idx in 0usize..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let src = [V1_MM1, V1_MM3, V2_FOUR1, V2_RAWIP, V2_RAWESP1, V1_V6_MM1][idx];
        let mut b = unhex(src);
        for (at, x) in flips {
            let n = b.len();
            b[at % n] ^= x;
        }
        let n = b.len();
        b.truncate(cut % (n + 1));
        if let Ok(m) = parse(&b) {
            prop_assert!(m.payloads.len() <= MAX_PAYLOADS);
        }
        scan_agrees_with_parse(&b);
    }
}
