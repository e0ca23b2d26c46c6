import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { complete, contextAt, JsonSchema, PolicySchema, typeLabel } from '../src/core/policyCompletion';

// the schema generated from the server's pydantic models (`hexad policy schema`)
const root = process.env.HEXAD_EXTENSION_ROOT ?? process.cwd();
const schema = new PolicySchema(
  JSON.parse(readFileSync(join(root, '..', 'policies', 'schema.json'), 'utf-8')) as JsonSchema,
);

/** Completion where `|` is in the text. */
function at(text: string) {
  const offset = text.indexOf('|');
  const clean = text.slice(0, offset) + text.slice(offset + 1);
  const before = clean.slice(0, offset).split('\n');
  return { text: clean, line: before.length - 1, character: before[before.length - 1].length };
}

function labels(text: string): string[] {
  const { text: clean, line, character } = at(text);
  return complete(schema, clean, line, character).map((s) => s.label);
}

test('top-level keys before any table', () => {
  const keys = labels('#:schema ./schema.json\n|');
  assert.deepEqual(keys.sort(), ['budgets', 'description', 'disable', 'escalation', 'limits', 'protected', 'routing', 'rules', 'version'].sort());
  // keys already written are not offered again
  assert.equal(labels('version = 1\n|').includes('version'), false);
});

test('keys of the table the cursor is in, with their type and description', () => {
  const { text, line, character } = at('version = 1\n\n[budgets]\ntokens_per_task = 5\ntok|\n\n[limits]\n');
  const suggestions = complete(schema, text, line, character);
  assert.deepEqual(suggestions.map((s) => s.label), ['tokens_per_day']);
  const [day] = suggestions;
  assert.equal(day.insertText, 'tokens_per_day = ');
  assert.equal(day.detail, 'integer ≥ 0');
  assert.match(day.documentation ?? '', /24 hours/);
  assert.equal(day.replace, 3);
  assert.ok(labels('[limits]\n|').includes('min_proceed_at'));
  assert.ok(!labels('[budgets]\n|').includes('min_proceed_at'));
});

test('array tables and nested tables', () => {
  assert.deepEqual(labels('[[rules]]\nid = "x"\n|').sort(), ['effect', 'hard', 'when', 'why']);
  assert.deepEqual(labels('[routing.default]\n|').sort(), ['engine', 'fallbacks', 'model']);
  assert.deepEqual(labels('[routing.tasks.implement]\n|').sort(), ['engine', 'fallbacks', 'model']);
  // a second [[rules]] starts afresh
  assert.ok(labels('[[rules]]\nid = "a"\n\n[[rules]]\n|').includes('id'));
});

test('enum values after `key =`, quoted', () => {
  const { text, line, character } = at('[[rules]]\nid = "x"\neffect = |');
  const values = complete(schema, text, line, character);
  assert.deepEqual(values.map((v) => v.insertText), ['"require_approval"', '"escalate"', '"deny"']);
  // typing inside the quotes replaces them
  const typed = at('[[rules]]\neffect = "de|');
  const deny = complete(schema, typed.text, typed.line, typed.character);
  assert.deepEqual(deny.map((v) => [v.label, v.replace]), [['deny', 3]]);
  assert.deepEqual(labels('[[rules]]\nhard = |'), ['true', 'false']);
});

test('inside an inline table and its arrays', () => {
  const keys = labels('[[rules]]\nwhen = { kinds = ["edit"], |');
  assert.ok(keys.includes('paths'));
  assert.ok(keys.includes('confidence_below'));
  assert.ok(!keys.includes('kinds'));
  const kinds = labels('[[rules]]\nwhen = { kinds = ["edit", |');
  assert.deepEqual(kinds, ['read', 'plan', 'generate', 'propose', 'edit', 'create', 'delete', 'rename', 'verify']);
});

test('table headers', () => {
  const headers = labels('version = 1\n[|');
  assert.ok(headers.includes('budgets'));
  assert.ok(headers.includes('routing.default'));
  assert.ok(headers.includes('rules'));
  assert.deepEqual(labels('[[|'), ['rules']);
  assert.deepEqual(labels('[rout|').sort(), ['routing', 'routing.default', 'routing.tasks.'].sort());
});

test('nothing in comments or strings', () => {
  assert.deepEqual(labels('# a comment |'), []);
  assert.deepEqual(labels('[[rules]]\nwhy = "because |'), []);
});

test('the context reader', () => {
  const { text, line, character } = at('[protected]\npaths = [".env", |');
  assert.deepEqual(contextAt(text, line, character), {
    at: 'value',
    path: ['protected'],
    key: 'paths',
    inArray: true,
    prefix: '',
    quoted: false,
  });
  assert.equal(typeLabel(schema.at(['escalation', 'proceed_at'])), 'number ≥ 0 ≤ 1');
});
