// Pat Partner of Northwind Voice in the local Teams client (the test starts the playground with a
// config of its own: Pat is the current user, Northwind's tenant id on every activity), with 300 more
// enterprises than the demo world's three (the test's EXTRA_WORLD_FILE), tries two points of issue 19:
//
// 1. A 300-enterprise picker that searches: "add user" answers with a search box ("Type a name"),
//    not a list of 303; typing part of a name shows the matches. The playground (0.2.28) has no
//    typeahead (it says so under the card): it filters the few choices the card carries (the first
//    15) and never asks the bot. So the script also sends, through the playground's API, the
//    `application/search` invoke Teams sends as a person types, and reports the bot's answer.
// 2. Fabrikam's form (two PBX locations): Pat picks Fabrikam; the hint names each location's free
//    extensions and the placeholder the first free one; Pat chooses PBX West, Brian Johnson and
//    extension 201 (free at PBX East), Review: the form says 201 does not exist on PBX West, and once
//    the box is cleared the placeholder is PBX West's first free one; 205, Review: the review.
//
// Options (JSON, argv[2]): url, out, texts (every text typed, clicked or waited for, from the message
// catalog: the test builds them with i18n.Words). One JSON line per step on stdout, a screenshot each.
'use strict';
const { CARD, emit, field, fields, scenario, typeMessage, waitForText } = require('./lib');

const NORTHWIND = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const PAT = { id: 'user-pat-partner', name: 'Pat Partner', aadObjectId: '4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8' };
const BOT = { id: '28:teams-phone-connector-local', name: 'Phone Connector' };
const CARD_TYPE = 'application/vnd.microsoft.card.adaptive';
const NOT_SUPPORTED = 'Typeahead Search is not supported yet'; // the playground's own note

function button(card, name) {
  return card.getByRole('button', { name, exact: true });
}

// The titles of the buttons a card shows, in order (the drop-downs' own arrows have none).
async function buttons(card) {
  const all = await card.getByRole('button').evaluateAll((list) =>
    list.filter((b) => b.offsetParent !== null).map((b) => b.getAttribute('title') || b.innerText.trim()),
  );
  return all.filter(Boolean);
}

// The options of the open drop-down, as the page lists them.
async function options(page) {
  return page.getByRole('option').evaluateAll((all) =>
    all.filter((o) => o.offsetParent !== null).map((o) => o.innerText.trim()),
  );
}

// Waits until the card shows every text of one of `choices` (lists of texts); returns its text.
async function waitForEither(page, card, choices, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = await card.innerText({ timeout: 1000 }).catch(() => '');
    if (choices.some((texts) => texts.every((x) => last.includes(x)))) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`waited ${timeout / 1000} s for one of ${JSON.stringify(choices)}; the card shows:\n${last}`);
}

async function step(name, card, shot, extra = {}, target) {
  const text = await card.innerText();
  emit({ event: 'step', step: name, text, buttons: await buttons(card), ...extra, shot: await shot(name, target || card) });
  return text;
}

// Types `query` into an emptied combobox, letter by letter as a person does; the options it shows.
async function typeInto(page, combo, query) {
  await combo.click();
  await combo.fill('');
  await combo.pressSequentially(query, { delay: 50 });
  await page.waitForTimeout(600); // the drop-down filters as the letters come
  return options(page);
}

// The playground's streams, read by a WebSocket of the page (Node 20 has no WebSocket): the bot's
// messages (with their cards, as sent) and its log, which holds the bot's answer to each invoke.
async function listen(page, base) {
  await page.evaluate(async (wsBase) => {
    const seen = { messages: [], invokes: {} };
    window.__streams = seen;
    const open = (path, onEvent) =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(wsBase + path);
        socket.onmessage = (m) => {
          try {
            onEvent(JSON.parse(m.data));
          } catch (e) {
            /* not JSON: not ours */
          }
        };
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`WebSocket ${path} failed`));
      });
    await open('/_ws_conversation/v1/conversations/stream', (e) => {
      if (e.action === 'createMessage' || e.action === 'updateMessage') seen.messages.push(e);
    });
    await open('/_ws/log/stream', (e) => {
      const log = e.log || {};
      const body = (log.request || {}).body || {};
      if (e.logAction === 'appendLog' && body.type === 'invoke' && body.id && log.response) {
        seen.invokes[body.id] = log.response;
      }
    });
  }, base.replace(/^http/, 'ws'));
}

// The card of the bot's last message that has one, as the bot sent it.
async function lastCardSent(page) {
  return page.evaluate((type) => {
    for (const e of [...window.__streams.messages].reverse()) {
      const found = (e.message.attachments || []).find((a) => a.contentType === type);
      if (found) return found.content;
    }
    return null;
  }, CARD_TYPE);
}

// What Teams sends as a person types into a typeahead (the playground does not): Pat's
// `application/search` invoke through the playground's API; the bot's answer, from the log stream.
async function searchAsTeamsWould(page, base, conversationId, dataset, query) {
  const id = `pat-search-${Date.now()}`;
  const activity = {
    id,
    type: 'invoke',
    name: 'application/search',
    channelId: 'msteams',
    serviceUrl: `http://localhost:${new URL(base).port}/_connector`,
    from: PAT,
    recipient: BOT,
    conversation: { id: conversationId, conversationType: 'personal', tenantId: NORTHWIND },
    channelData: { tenant: { id: NORTHWIND } },
    locale: 'en-US',
    value: { queryText: query, dataset, queryOptions: { skip: 0, top: 15 } },
  };
  const response = await fetch(`${base}/_internal/v1/customActivities`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(activity),
  });
  if (response.status !== 200) throw new Error(`the playground answered ${response.status}: ${await response.text()}`);
  const handle = await page.waitForFunction((invokeId) => window.__streams.invokes[invokeId], id, { timeout: 20000 });
  return handle.jsonValue();
}

async function picker(page, shot, t, opts) {
  await listen(page, opts.url);
  const before = await page.locator(CARD).count();
  await typeMessage(page, t.addUser);
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  const card = page.locator(CARD).last();
  await waitForText(page, card, [t.pickerQuestion, t.next]);
  const combo = card.locator('input[role="combobox"]').first();
  const placeholder = await combo.getAttribute('placeholder');
  await page.getByText(NOT_SUPPORTED).first().waitFor(); // the playground's note under the card
  // The card as the bot sent it: the choices it carries (the playground lists none before a letter
  // is typed) and what it asks the bot for.
  const sent = await lastCardSent(page);
  const input = (sent.body || []).find((e) => e.id === 'enterpriseId') || {};
  const carried = { choices: (input.choices || []).map((c) => c.title), data: input['choices.data'] || null };
  await step('picker', card, shot, { placeholder, carried, bytes: JSON.stringify(sent).length, note: NOT_SUPPORTED });

  const matches = await typeInto(page, combo, t.query);
  await step('picker-search', card, shot, { typed: t.query, options: matches });

  // A name the card does not carry: the playground shows nothing; Teams would ask the bot.
  const elsewhere = await typeInto(page, combo, t.farQuery);
  const config = await (await fetch(`${opts.url}/_internal/v1/config`)).json();
  const chat = config.config.personalChat || { id: 'personal-chat-phone-connector' };
  const answer = await searchAsTeamsWould(page, opts.url, chat.id, 'enterprises', t.farQuery);
  await step('picker-not-carried', card, shot, { typed: t.farQuery, options: elsewhere, searched: answer });

  await typeInto(page, combo, t.fabrikam);
  await page.getByRole('option', { name: t.fabrikam, exact: true }).click();
  await button(card, t.next).click();
  return card;
}

async function fabrikamForm(page, shot, t, card) {
  await waitForText(page, card, [t.formHeading, t.review]);
  await step('fabrikam-form', card, shot, { fields: await fields(card) });

  const combos = card.locator('input[role="combobox"]');
  await combos.nth(0).click();
  await page.getByRole('option', { name: 'PBX West', exact: true }).click();
  await combos.nth(1).click();
  await page.getByRole('option', { name: 'US West', exact: true }).click();
  await combos.nth(2).click();
  await combos.nth(2).pressSequentially('Brian', { delay: 40 });
  const brian = page.getByRole('option', { name: /Brian Johnson/ }).first();
  await brian.waitFor();
  await brian.click();
  await field(card, t.extensionLabel).fill('201');
  await button(card, t.review).click();
  await waitForText(page, card, [t.notThere]);
  await step('fabrikam-wrong-location', card, shot, { fields: await fields(card) });

  // The box emptied, as a person does to type another: the placeholder is PBX West's.
  await field(card, t.extensionLabel).fill('');
  await step('fabrikam-west', card, shot, { fields: await fields(card), location: await combos.nth(0).inputValue() });

  await field(card, t.extensionLabel).fill('205');
  await button(card, t.review).click();
  const answer = await waitForEither(page, card, [[t.checkAndAdd, t.addConfirm], [t.phoneRefused]]);
  if (answer.includes(t.phoneRefused)) {
    // The redrawn form kept 201 in the phone number box (filled in from the extension at the first
    // Review), so a new extension alone is refused: a person types it there too.
    await step('fabrikam-phone-refused', card, shot, { fields: await fields(card) });
    await field(card, t.phoneLabel).fill('205');
    await button(card, t.review).click();
    await waitForText(page, card, [t.checkAndAdd, t.addConfirm]);
  }
  await step('fabrikam-review', card, shot);
}

scenario(async (page, shot, opts) => {
  const t = opts.texts;
  if (!t) throw new Error('texts: the test passes every text this script looks for');
  const welcome = page.locator(CARD, { hasText: t.welcome }).last();
  await waitForText(page, welcome, [t.welcome]);
  emit({ event: 'step', step: 'opened', text: await welcome.innerText(), shot: await shot('opened', welcome) });
  const card = await picker(page, shot, t, opts);
  await fabrikamForm(page, shot, t, card);
});
