#!/usr/bin/env node
/**
 * Convert a gettext .po catalog into the JSON that JupyterLab's translator loads
 * (the jed-like format of the language packs):
 *
 *   { "": {"domain", "language", "plural_forms", "version"}, "msgid": ["msgstr", ...], ... }
 *
 * with "msgctxt\u0004msgid" keys for messages with a context. Untranslated and fuzzy
 * entries are left out, so they show in English.
 *
 * Usage: node scripts/po2json.mjs po/zh_CN.po OUT.json [domain]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

function unquote(line) {
  const body = line.slice(line.indexOf('"') + 1, line.lastIndexOf('"'));
  return body.replace(/\\(.)/g, (_, c) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

export function parsePo(text) {
  const entries = [];
  let entry = { flags: [], msgstr: [] };
  let field = null;
  const flush = () => {
    if (entry.msgid !== undefined) entries.push(entry);
    entry = { flags: [], msgstr: [] };
    field = null;
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') {
      flush();
    } else if (line.startsWith('#,')) {
      entry.flags.push(...line.slice(2).split(',').map(f => f.trim()));
    } else if (line.startsWith('#')) {
      continue;
    } else if (line.startsWith('"')) {
      if (field === null) throw new Error(`stray string: ${raw}`);
      if (field.startsWith('msgstr[')) {
        entry.msgstr[Number(field.slice(7, -1))] += unquote(line);
      } else if (field === 'msgstr') {
        entry.msgstr[0] += unquote(line);
      } else {
        entry[field] += unquote(line);
      }
    } else {
      const match = /^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+"/.exec(line);
      if (!match) throw new Error(`cannot parse: ${raw}`);
      field = match[1];
      if (field === 'msgid' && entry.msgid !== undefined) flush(), (field = 'msgid');
      if (field.startsWith('msgstr[')) {
        entry.msgstr[Number(field.slice(7, -1))] = unquote(line);
      } else if (field === 'msgstr') {
        entry.msgstr[0] = unquote(line);
      } else {
        entry[field] = unquote(line);
      }
    }
  }
  flush();
  return entries;
}

export function poToJson(text, domain) {
  const entries = parsePo(text);
  const header = entries.find(e => e.msgid === '');
  const headers = {};
  for (const line of (header?.msgstr[0] ?? '').split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  const result = {
    '': {
      domain,
      language: (headers['Language'] ?? '').replace('_', '-'),
      plural_forms: headers['Plural-Forms'] ?? 'nplurals=2; plural=(n != 1);',
      version: headers['Project-Id-Version'] ?? ''
    }
  };
  for (const e of entries) {
    if (e.msgid === '' || e.flags.includes('fuzzy')) continue;
    if (!e.msgstr.length || e.msgstr.some(s => !s)) continue;
    const key = e.msgctxt !== undefined ? `${e.msgctxt}\u0004${e.msgid}` : e.msgid;
    result[key] = e.msgstr;
  }
  return result;
}

const [, , input, output, domain = 'ytung'] = process.argv;
if (input && output) {
  const json = poToJson(readFileSync(input, 'utf8'), domain);
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, JSON.stringify(json, null, 2) + '\n', 'utf8');
  console.log(`${input} -> ${output} (${Object.keys(json).length - 1} messages)`);
}
