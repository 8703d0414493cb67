// Ada Admin adds many phone users at once in the local Teams client, as a new admin would: "bulk add"
// alone shows what to send; then "bulk add" with a header line and five rows on the next lines (typed
// with Shift+Enter, as in Teams), two of them wrong; the report card lists 3 ready and 2 problems by
// line; "Add 3 user(s)" turns that card into the one progress card, which updates every ~2 s until
// "Finished. 3 of 3 user(s) added." (each state of its counts is reported); the results come as CSV.
// Then she adds the two rows corrected the other way the help card offers: "bulk add" alone again,
// the rows pasted into the card's box ("Or paste the rows here"), "Check the rows"; that card becomes
// the report, then the progress. So both ways in are covered: a typed message and the card's box.
//
// Options (JSON, argv[2]): url, out, and language: "en" (default) or "fr". The playground always sends
// en-US, so in French Ada first types "langue", then "français", as a person would; she then types
// "ajout en bloc" and a header in French, semicolon separated (as French Excel copies). Every text
// checked is the French of the catalog (i18n/fr_CA/*.po, with its no-break space before a colon).
// One JSON line per step on stdout ({event: "step", step, text, buttons, shot, ...}), a screenshot each.
//
// The playground (0.2.28) drops the line breaks of a message typed with Shift+Enter: its composer
// sends only the Lexical editor's text nodes (line breaks are other nodes), so "bulk add" and the
// rows would arrive as one line. Teams sends the lines. `sendLines` types the lines as a person does
// and puts the line breaks back in the one request the page sends, only when that request holds
// exactly the typed lines run together (nothing else is changed; if a later playground keeps them,
// the request goes as it is). Ada's own bubble in the playground still shows the lines run together.
'use strict';
const { CARD, EDITOR, emit, field, fields, scenario, waitForText } = require('./lib');

const TEXTS = {
  en: {
    command: 'bulk add',
    helpHeading: 'Add many phone users at once',
    pasteLabel: 'Or paste the rows here (with the line naming the columns):',
    check: 'Check the rows',
    header: 'teams_user,extension,voice_route',
    separator: ',',
    checkHeading: 'Bulk add for Contoso: the check',
    progressHeading: 'Bulk add for Contoso',
    counts: 'Added: ',
    ready: (ready, problems) => `${ready} user(s) ready to add, ${problems} problem(s).`,
    add: (n) => `Add ${n} user(s)`,
    cancel: 'Cancel',
    finished: (done, total) => `${done} of ${total} user(s) added.`,
    results: 'The results, as CSV to copy into Excel:',
  },
  fr: {
    command: 'ajout en bloc',
    helpHeading: 'Ajouter plusieurs utilisateurs téléphoniques à la fois',
    pasteLabel: 'Ou collez les lignes ici (avec la ligne qui nomme les colonnes)\u00a0:',
    check: 'Vérifier les lignes',
    header: 'utilisateur_teams;poste;route_vocale',
    separator: ';',
    checkHeading: 'Ajout en bloc pour Contoso\u00a0: la vérification',
    progressHeading: 'Ajout en bloc pour Contoso',
    counts: 'Ajoutés\u00a0: ',
    ready: (ready, problems) => `${ready} utilisateur(s) prêt(s) à ajouter, ${problems} problème(s).`,
    add: (n) => `Ajouter ${n} utilisateur(s)`,
    cancel: 'Annuler',
    finished: (done, total) => `${done} utilisateur(s) sur ${total} ajouté(s).`,
    results: 'Les résultats, en CSV à copier dans Excel\u00a0:',
  },
};

// Five users, two of them wrong: an address with a typo (line 4; "exmaple") and an extension that
// cannot be had (line 6): in English 105 again (line 2 has it), in French 101, Alex Wilber's.
// Then the same two rows corrected. Users and extensions: services/seed/demo_world.json.
function rows(language) {
  const taken = language === 'fr' ? '101' : '105';
  return {
    first: [
      ['adele@contoso.example', '105', 'CA Central'],
      ['isaiah@contoso.example', '106', 'US West'],
      ['diego@contoso.exmaple', '107', 'CA Central'],
      ['lynne@contoso.example', '108', 'CA Central'],
      ['patti@contoso.example', taken, 'CA Central'],
    ],
    fixed: [
      ['diego@contoso.example', '107', 'CA Central'],
      ['patti@contoso.example', '109', 'CA Central'],
    ],
  };
}

// -- Ada, in the browser -------------------------------------------------------------------------------

function button(card, name) {
  return card.getByRole('button', { name, exact: true });
}

// The titles of the buttons a card shows, in order (the ones a person can see and click).
async function buttons(card) {
  return card.getByRole('button').evaluateAll((all) =>
    all.filter((b) => b.offsetParent !== null).map((b) => b.getAttribute('title') || b.innerText.trim()),
  );
}

async function step(name, card, shot, extra = {}) {
  const text = await card.innerText();
  emit({ event: 'step', step: name, text, buttons: await buttons(card), ...extra, shot: await shot(name, card) });
  return text;
}

async function answered(page, text, expected) {
  const box = page.locator(EDITOR);
  await box.click();
  await box.type(text);
  await box.press('Enter');
  await page.waitForFunction((words) => document.body.innerText.includes(words), expected, { timeout: 30000 });
}

// Types `lines` in the message box, Shift+Enter between them, and sends them (see the top of the file).
async function sendLines(page, lines) {
  const typed = lines.join('\n');
  const runTogether = lines.join('');
  let sent = null;
  const route = '**/_conversation/v1/conversations/*/messages';
  const fix = async (r) => {
    const body = JSON.parse(r.request().postData() || '{}');
    sent = body.text;
    if (body.text === runTogether && runTogether !== typed) {
      await r.continue({ postData: JSON.stringify({ ...body, text: typed }) });
    } else {
      await r.continue();
    }
  };
  await page.route(route, fix);
  try {
    const box = page.locator(EDITOR);
    await box.click();
    for (const [i, line] of lines.entries()) {
      if (i > 0) await box.press('Shift+Enter');
      await box.type(line);
    }
    const shown = await box.innerText();
    if (shown.split('\n').filter((l) => l.trim()).length !== lines.length) {
      throw new Error(`the message box does not show the ${lines.length} lines typed:\n${shown}`);
    }
    await box.press('Enter');
    const deadline = Date.now() + 10000;
    while (sent === null && Date.now() < deadline) await page.waitForTimeout(50);
  } finally {
    await page.unroute(route, fix);
  }
  if (sent !== runTogether && sent !== typed) {
    throw new Error(`the playground sent ${JSON.stringify(sent)} for ${JSON.stringify(typed)}`);
  }
  return { linesKept: sent === typed };
}

// Sends `lines` and returns the new card the bot answers with (the last card of the chat).
async function askLines(page, lines, expected) {
  const before = await page.locator(CARD).count();
  const how = await sendLines(page, lines);
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  const card = page.locator(CARD).last();
  return { card, text: await waitForText(page, card, expected), ...how };
}

// The n-th (1-based) message of the chat (not the chat list's preview) that starts with `intro`, as a
// person reads it (waits for it): its text, and a locator for the screenshot.
async function textMessage(page, intro, n) {
  const own = `xpath=//*[not(ancestor::*[@role="tree"])][text()[starts-with(normalize-space(.), ${JSON.stringify(intro)})]]`;
  const found = page.locator(own).nth(n - 1);
  await found.waitFor({ timeout: 30000 });
  // The bubble: the nearest element around the intro that holds more than the intro.
  const text = await found.evaluate((el, words) => {
    let node = el;
    while (node.parentElement && node.innerText.trim() === words.trim()) node = node.parentElement;
    return node.innerText;
  }, intro);
  return { locator: found, text };
}

// The rows typed in one message: "bulk add", then a line each (Shift+Enter). The bot answers with a
// new card, the report.
async function typedRows(page, shot, t, label, lines, expected) {
  const { card, linesKept } = await askLines(page, [t.command, ...lines], expected);
  await step(`${label}-report`, card, shot, { linesKept, how: 'typed' });
  return card;
}

// The rows pasted into the help card's box: "bulk add" alone, the rows (with the line naming the
// columns) into "Or paste the rows here", then "Check the rows": that card becomes the report.
async function pastedRows(page, shot, t, label, lines, expected) {
  const { card } = await askLines(page, [t.command], [t.helpHeading, t.check]);
  await field(card, t.pasteLabel).fill(lines.join('\n'));
  await step(`${label}-help`, card, shot, { fields: await fields(card) });
  const cards = await page.locator(CARD).count();
  await button(card, t.check).click();
  await waitForText(page, card, expected);
  await step(`${label}-report`, card, shot, { how: 'pasted', newCards: (await page.locator(CARD).count()) - cards });
  return card;
}

// One batch: the rows (typed in a message, or pasted into the help card's box), the report card, the
// click on "Add N user(s)", the progress card until it says Finished, and the results. `label` names
// the steps: `${label}-report`, `${label}-finished`, ...
async function batch(page, shot, t, label, { lines, pasted, ready, problems, round }) {
  const expected = [t.checkHeading, t.ready(ready, problems), t.cancel];
  const card = pasted
    ? await pastedRows(page, shot, t, label, lines, expected)
    : await typedRows(page, shot, t, label, lines, expected);
  const started = Date.now();
  await button(card, t.add(ready)).click();
  // The card Ada clicked becomes the progress card (no new card): the counts, until it says Finished.
  const progress = await waitForText(page, card, [t.progressHeading, t.counts], 15000);
  emit({ event: 'step', step: `${label}-progress`, text: progress, shot: await shot(`${label}-progress`, card) });
  // Each state of the counts the card shows until it says Finished, with when it showed (s after the click).
  const updates = [];
  const deadline = Date.now() + 60000;
  for (;;) {
    const shown = await card.innerText({ timeout: 1000 }).catch(() => '');
    const line = shown.split('\n').find((l) => l.startsWith(t.counts));
    if (line && (updates.length === 0 || updates[updates.length - 1].counts !== line)) {
      updates.push({ at: (Date.now() - started) / 1000, counts: line });
    }
    if (shown.includes(t.finished(ready, ready))) break;
    if (Date.now() > deadline) throw new Error(`the card never said ${t.finished(ready, ready)}; it shows:\n${shown}`);
    await page.waitForTimeout(100);
  }
  const seconds = (Date.now() - started) / 1000;
  const cards = await page.locator(CARD).count();
  const withHeading = await page.locator(CARD, { hasText: t.progressHeading }).count();
  await step(`${label}-finished`, card, shot, { seconds, updates, cards, progressCards: withHeading });
  const results = await textMessage(page, t.results, round);
  emit({
    event: 'step',
    step: `${label}-results`,
    text: results.text,
    shot: await shot(`${label}-results`, results.locator),
  });
}

scenario(async (page, shot, opts) => {
  const language = opts.language || 'en';
  const t = TEXTS[language];
  if (!t) throw new Error(`language must be one of ${Object.keys(TEXTS).join(', ')}`);

  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  await waitForText(page, welcome, ['Hi Ada Admin']);
  if (language === 'fr') {
    await answered(page, 'langue', 'Which language do you want me to use?');
    await answered(page, 'français', 'je vous écrirai en français');
    emit({ event: 'step', step: 'french-chosen', text: '', shot: await shot('french-chosen') });
  }

  // What to send: "bulk add" alone.
  const { card: help } = await askLines(page, [t.command], [t.helpHeading, t.check]);
  await step('help', help, shot, { fields: await fields(help) });

  const data = rows(language);
  const csv = (list) => [t.header, ...list.map((r) => r.join(t.separator))];
  // The first batch typed in a message; the fixed rows pasted into the help card's box.
  await batch(page, shot, t, 'first', { lines: csv(data.first), ready: 3, problems: 2, round: 1 });
  await batch(page, shot, t, 'fixed', { lines: csv(data.fixed), pasted: true, ready: 2, problems: 0, round: 2 });
});
