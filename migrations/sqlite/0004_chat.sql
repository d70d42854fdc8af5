-- 0004_chat: what job creation needs to know about a chat upload without
-- reading it. NULL for rows written before this version (the upload check
-- of those versions refused tool calling outright) and for other files.

-- Where a chat file first uses OpenAI's tool or function calling, which
-- the upload accepts (it is valid OpenAI data) and training does not
-- support yet: "line 3: messages[1].tool_calls". A job on such a file is
-- refused at creation, naming the file.
ALTER TABLE files ADD COLUMN tool_use TEXT;
