//! The Alibaba GenAI cluster trace 2026 (GenTD26): placeholder, see the replay command.
