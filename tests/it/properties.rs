//! Properties of names and the routing header, over generated input.

use longrunning_grpc::name::routing_header;
use longrunning_grpc::{OperationName, validate_name};
use proptest::prelude::*;

fn decode(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

proptest! {
    #[test]
    fn operation_names_round_trip_through_parse_and_display(
        project in "[a-z][a-z0-9-]{0,29}",
        location in "[a-z0-9-]{1,20}",
        operation in "[A-Za-z0-9_.~-]{1,64}",
    ) {
        let text = format!("projects/{project}/locations/{location}/operations/{operation}");
        let name = OperationName::parse(&text).unwrap();
        prop_assert_eq!(name.to_string(), text.clone());
        prop_assert_eq!(name.project(), project.as_str());
        prop_assert_eq!(name.location(), location.as_str());
        prop_assert_eq!(name.operation(), operation.as_str());
        prop_assert_eq!(OperationName::parse(name.as_str()).unwrap(), name);
    }

    #[test]
    fn routing_header_is_reversible_and_hides_reserved_characters(value in any::<String>()) {
        let header = routing_header("name", &value);
        let encoded = header.strip_prefix("name=").unwrap();
        prop_assert!(!encoded.contains('/') && !encoded.contains('&') && !encoded.contains('='));
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "header-safe: {}", encoded);
        prop_assert_eq!(decode(encoded), value);
    }

    #[test]
    fn validation_never_panics_and_accepted_names_are_clean(name in any::<String>()) {
        if validate_name(&name).is_ok() {
            prop_assert!(!name.is_empty() && name.len() <= 2048);
            prop_assert!(!name.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(!name.split('/').any(str::is_empty));
        }
        let _ = OperationName::parse(&name);
    }
}
