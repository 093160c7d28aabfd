//! Random valid messages of the 1987 table, for the property tests and
//! the cross-check with pyiso8583.

use harambee_iso8583::{Dialect, Message, Mti};
use proptest::prelude::*;

/// A field value of the class and length the dialect allows.
fn value_for(class: harambee_iso8583::Class, length: usize) -> BoxedStrategy<Vec<u8>> {
    use harambee_iso8583::Class as C;
    let chars: &'static [u8] = match class {
        C::N => b"0123456789",
        C::A => b"ABCXYZ abc",
        C::An => b"AZaz09 ",
        C::Ans => b"A z0~ -/.",
        C::Ns => b"09 -/.=",
        C::Z => b"0123456789=",
        C::Xn | C::B => b"",
    };
    match class {
        C::B => proptest::collection::vec(any::<u8>(), length).boxed(),
        C::Xn => (
            prop_oneof![Just(b'C'), Just(b'D')],
            proptest::collection::vec(proptest::sample::select(b"0123456789".to_vec()), length),
        )
            .prop_map(|(sign, mut digits)| {
                digits.insert(0, sign);
                digits
            })
            .boxed(),
        _ => proptest::collection::vec(proptest::sample::select(chars.to_vec()), length).boxed(),
    }
}

pub fn any_message() -> impl Strategy<Value = Message> {
    let d = Dialect::ascii_1987();
    let specs: Vec<(u8, harambee_iso8583::FieldSpec)> =
        d.fields().map(|(n, s)| (n, s.clone())).collect();
    let mtis = prop_oneof![
        Just(*b"0200"),
        Just(*b"0210"),
        Just(*b"0420"),
        Just(*b"0800")
    ];
    let fields = proptest::sample::subsequence(specs, 0..20).prop_flat_map(|chosen| {
        chosen
            .into_iter()
            .map(|(n, spec)| {
                let lengths = match spec.length {
                    harambee_iso8583::LengthKind::Fixed => (spec.max..=spec.max).boxed(),
                    _ => (0..=spec.max).boxed(),
                };
                let class = spec.class;
                lengths
                    .prop_flat_map(move |l| value_for(class, l))
                    .prop_map(move |v| (n, v))
            })
            .collect::<Vec<_>>()
    });
    (mtis, fields).prop_map(|(mti, fields)| {
        let mut m = Message::new(Mti::new(&mti).expect("mti"));
        for (n, v) in fields {
            m.set(usize::from(n), v);
        }
        m
    })
}
