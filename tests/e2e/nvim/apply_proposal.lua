-- Drive `hexad serve` from Neovim's built-in LSP client (0.7+), headless:
-- open a file, list code actions through vim.lsp.buf.code_action() (the picker is
-- vim.ui.select, answered here as a user would), let Neovim resolve the chosen action and
-- run its command, answer Hexad's questions (window/showMessageRequest) as a user would,
-- let Neovim's own workspace/applyEdit handler apply the edit to the buffer, write the
-- buffer, shut the server down and quit. What happened is written as JSON to
-- $HEXAD_NVIM_OUT for the test to check.
--
-- Environment: HEXAD_NVIM_ROOT (workspace), HEXAD_NVIM_FILE (workspace-relative path to
-- open), HEXAD_NVIM_LINE / HEXAD_NVIM_COL (1-based line, 0-based column of the cursor),
-- HEXAD_NVIM_ACTION (title of the code action to choose), HEXAD_NVIM_PYTHON (the
-- interpreter that runs `-m hexad serve`), HEXAD_NVIM_OUT, HEXAD_NVIM_TIMEOUT_MS.

local env = vim.env
local out = {
  steps = {},
  actions = {},
  asked = {},
  edits = {},
  notifications = {},
  errors = {},
}
local timeout = tonumber(env.HEXAD_NVIM_TIMEOUT_MS or '60000')

local function step(name)
  table.insert(out.steps, name)
end

local function fail(message)
  error(message, 0)
end

-- an error in a callback (a handler, the picker) ends every wait at once
local callback_error = nil
local function guarded(fn)
  return function(...)
    local results = { pcall(fn, ...) }
    if not results[1] then
      callback_error = callback_error or tostring(results[2])
      return vim.NIL
    end
    return unpack(results, 2)
  end
end

local function wait(what, predicate)
  local done = vim.wait(timeout, function()
    return callback_error ~= nil or predicate()
  end, 20)
  if callback_error ~= nil then
    fail('while waiting for ' .. what .. ': ' .. callback_error)
  end
  if not done then
    fail('timed out waiting for ' .. what)
  end
end

local function finish(ok)
  out.ok = ok
  local handle = assert(io.open(env.HEXAD_NVIM_OUT, 'w'))
  handle:write(vim.fn.json_encode(out))
  handle:close()
end

local function run()
  local root = env.HEXAD_NVIM_ROOT
  local indexed = 0
  local command_result = nil

  -- a user clicks: "Accept" on the review, "Apply" on the confirmation
  local function answer(_, params)
    table.insert(out.asked, { message = params.message, actions = params.actions })
    for _, wanted in ipairs({ 'Accept', 'Apply' }) do
      for _, action in ipairs(params.actions or {}) do
        if action.title == wanted then
          return action
        end
      end
    end
    return vim.NIL
  end

  local apply_edit = vim.lsp.handlers['workspace/applyEdit'] -- Neovim's own
  local client_id = vim.lsp.start_client({
    name = 'hexad',
    cmd = { env.HEXAD_NVIM_PYTHON, '-m', 'hexad', 'serve' },
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = 'ws' } },
    handlers = {
      ['hexad/indexed'] = function()
        indexed = indexed + 1
      end,
      ['window/showMessageRequest'] = guarded(answer),
      ['window/showMessage'] = function(_, params)
        table.insert(out.notifications, params.message)
      end,
      ['workspace/applyEdit'] = guarded(function(err, params, ctx)
        table.insert(out.edits, params)
        local result = apply_edit(err, params, ctx)
        out.apply_result = result
        return result
      end),
      ['workspace/executeCommand'] = function(err, result)
        command_result = { err = err, result = result }
      end,
    },
    on_exit = function(code, signal)
      out.server_exit = { code = code, signal = signal }
    end,
  })
  if not client_id then
    fail('vim.lsp.start_client failed')
  end
  local client = vim.lsp.get_client_by_id(client_id)
  wait('initialize', function()
    return client.initialized
  end)
  step('initialized')
  wait('the first index (hexad/indexed)', function()
    return indexed > 0
  end)
  step('indexed')

  vim.cmd('edit ' .. vim.fn.fnameescape(root .. '/' .. env.HEXAD_NVIM_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(bufnr, client_id)
  vim.api.nvim_win_set_cursor(0, { tonumber(env.HEXAD_NVIM_LINE), tonumber(env.HEXAD_NVIM_COL) })
  step('opened')

  -- the code action menu: Neovim lists the actions through vim.ui.select; choose ours
  local chosen = false
  vim.ui.select = guarded(function(items, opts, on_choice)
    for _, item in ipairs(items) do
      table.insert(out.actions, (opts.format_item(item))) -- gsub's count left out
    end
    for _, item in ipairs(items) do
      if (opts.format_item(item)) == env.HEXAD_NVIM_ACTION then
        chosen = true
        on_choice(item)
        return
      end
    end
    chosen = nil
    on_choice(nil)
  end)
  vim.lsp.buf.code_action()
  wait('the code action list', function()
    return chosen ~= false
  end)
  if not chosen then
    fail('no code action titled ' .. env.HEXAD_NVIM_ACTION)
  end
  step('chosen')
  wait('the proposal to be reviewed, accepted and applied', function()
    return command_result ~= nil
  end)
  out.command = command_result
  if command_result.err then
    fail('the command failed: ' .. vim.inspect(command_result.err))
  end
  step('applied')

  out.buffer = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), '\n') .. '\n'
  vim.cmd('write')
  step('written')

  client.stop()
  wait('the server to exit', function()
    return out.server_exit ~= nil
  end)
  step('stopped')
end

local ok, err = pcall(run)
if not ok then
  table.insert(out.errors, tostring(err))
end
for _, client in pairs(vim.lsp.get_active_clients()) do
  client.stop(true)
end
finish(ok)
vim.cmd(ok and 'qall!' or 'cquit!')
