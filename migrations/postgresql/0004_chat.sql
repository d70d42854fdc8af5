-- 0004_chat: where a chat upload first uses tool or function calling
-- ("line 3: messages[1].tool_calls"), as migrations/sqlite/0004; NULL for
-- other files and rows written before this version.
ALTER TABLE files ADD COLUMN tool_use text;
