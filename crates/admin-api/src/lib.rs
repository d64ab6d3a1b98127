//! The REST Admin API under `/admin/api/v1` (see SPEC §6). Nothing here yet.
