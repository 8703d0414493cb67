// Ada Admin tries issue 19's free text and procedure in the local Teams client, as a new admin would:
//
// 0. A typo: "add usr" answers "Did you mean add user?" with a button; she clicks it: the form.
// 1. A warned dial plan: that form filled in (Adele Vance, CA Central, 105), "Assign
//    default dial plan policy" unticked, Review: the form comes back with the warning and a box to
//    confirm it; ticked, Review: the review shows the warning too; Add user, until Done.
// 2. A one-line add: "add user isaiah@contoso.example ext 108 route US West" opens the form filled
//    in. Nothing is sent: the script waits there while the test looks into the bot's database; then
//    Review, Add user, until Done.
// 3. "audit": the tenant's trail in people's words, the two adds in it.
//
// Options (JSON, argv[2]): url, out; language "en" (default) or "fr": the playground always sends
// en-US, so in French Ada first types "langue", then "français", as a person would; texts: every text
// typed, clicked or waited for, in Ada's language, as tests/test_browser_issue19_e2e.py takes them
// from the message catalog (i18n); signals: a folder where the test puts a file named after a step
// ("one-line-form") when the script may go on. One JSON line per step on stdout, a screenshot each.
'use strict';
const fs = require('fs');
const path = require('path');
const { CARD, emit, field, fields, scenario, typeMessage, waitForText } = require('./lib');

// A label as a pattern that matches it whatever its white space (the French no-break space before a
// colon is a space in an accessible name).
function loosely(label) {
  const words = label.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^\\s*${words.join('\\s+')}`);
}

function button(card, name) {
  return card.getByRole('button', { name, exact: true });
}

// The titles of the buttons a card shows, in order (the ones a person can click).
async function buttons(card) {
  const all = await card.getByRole('button').evaluateAll((list) =>
    list.filter((b) => b.offsetParent !== null).map((b) => b.getAttribute('title') || b.innerText.trim()),
  );
  return all.filter(Boolean); // the drop-downs' arrows have no title
}

// The tick boxes a card shows: their label and whether they are ticked.
async function toggles(card) {
  return card.getByRole('checkbox').evaluateAll((all) =>
    all.map((el) => {
      const byId = (el.getAttribute('aria-labelledby') || '')
        .split(' ')
        .map((id) => document.getElementById(id))
        .filter(Boolean)
        .map((l) => l.innerText.trim())
        .join(' ');
      const label = byId || el.getAttribute('aria-label') || (el.labels && el.labels[0] ? el.labels[0].innerText.trim() : '');
      return { label, checked: el.checked };
    }),
  );
}

// The values the form's drop-downs and text boxes hold now.
async function values(card) {
  const combos = card.locator('input[role="combobox"]');
  const shown = [];
  for (let i = 0; i < (await combos.count()); i += 1) shown.push(await combos.nth(i).inputValue());
  return { choices: shown, fields: await fields(card) };
}

async function step(name, card, shot, extra = {}) {
  const text = await card.innerText();
  emit({
    event: 'step',
    step: name,
    text,
    buttons: await buttons(card),
    toggles: await toggles(card),
    ...extra,
    shot: await shot(name, card),
  });
  return text;
}

// Types `text` and returns the new card the bot answers with (the last card of the chat).
async function ask(page, text, expected) {
  const before = await page.locator(CARD).count();
  await typeMessage(page, text);
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  const card = page.locator(CARD).last();
  await waitForText(page, card, expected);
  return card;
}

async function answered(page, text, expected) {
  await typeMessage(page, text);
  await page.waitForFunction((words) => document.body.innerText.includes(words), expected, { timeout: 30000 });
}

// Waits until the test has looked (it puts a file named `name` in the signals folder).
async function signal(page, opts, name) {
  if (!opts.signals) return;
  const file = path.join(opts.signals, name);
  const deadline = Date.now() + 60000;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`the test did not say go on after "${name}"`);
    await page.waitForTimeout(100);
  }
}

async function choose(page, combo, name) {
  await combo.click();
  await combo.pressSequentially(name.split(' ')[0], { delay: 40 });
  const option = page.getByRole('option', { name: new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }).first();
  await option.waitFor();
  await option.click();
}

// A typo, and the suggestion's button: returns the form it opens (a new card).
async function typo(page, shot, t) {
  const suggestion = await ask(page, t.typo, [t.didYouMean]);
  await step('typo', suggestion, shot);
  const before = await page.locator(CARD).count();
  await button(suggestion, t.suggestionButton).click();
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  const card = page.locator(CARD).last();
  await waitForText(page, card, [t.formHeading, t.review]);
  return card;
}

async function warnedDialPlan(page, shot, t, card) {
  const combos = card.locator('input[role="combobox"]');
  await combos.nth(1).click();
  await page.getByRole('option', { name: 'CA Central', exact: true }).click();
  await choose(page, combos.nth(2), 'Adele Vance');
  await field(card, t.extensionLabel).fill('105');
  const dialPlan = card.getByRole('checkbox', { name: loosely(t.dialPlan) });
  if (!(await dialPlan.isChecked())) throw new Error('the default dial plan policy is not ticked on a new form');
  await dialPlan.uncheck();
  await step('dial-plan-unticked', card, shot);

  await button(card, t.review).click();
  await waitForText(page, card, [t.dialPlanWarning, t.dialPlanConfirm]);
  await step('dial-plan-warned', card, shot, { values: await values(card) });

  await card.getByRole('checkbox', { name: loosely(t.dialPlanConfirm) }).check();
  await button(card, t.review).click();
  await waitForText(page, card, [t.checkAndAdd, t.addConfirm]);
  await step('dial-plan-review', card, shot);

  await button(card, t.addConfirm).click();
  await waitForText(page, card, [t.done, t.added('Adele Vance, adele@contoso.example', '105')], 60000);
  await step('dial-plan-done', card, shot);
}

async function oneLineAdd(page, shot, t, opts) {
  const card = await ask(page, t.oneLine, [t.formHeading, t.review]);
  await step('one-line-form', card, shot, { values: await values(card) });
  await signal(page, opts, 'one-line-form');

  await button(card, t.review).click();
  await waitForText(page, card, [t.checkAndAdd, t.addConfirm]);
  await step('one-line-review', card, shot);
  await button(card, t.addConfirm).click();
  await waitForText(page, card, [t.done, t.added('Isaiah Langer, isaiah@contoso.example', '108')], 60000);
  await step('one-line-done', card, shot);
}

async function audit(page, shot, t) {
  const card = await ask(page, t.audit, [t.auditHeading, 'Isaiah Langer']);
  await step('audit', card, shot);
}

scenario(async (page, shot, opts) => {
  const t = opts.texts;
  if (!t) throw new Error('texts: the test passes every text this script looks for');
  t.added = (user, extension) => t.addedTemplate.replace('{user}', user).replace('{extension}', extension);

  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  await waitForText(page, welcome, ['Hi Ada Admin']);
  if (opts.language === 'fr') {
    await answered(page, 'langue', t.languageAsked);
    await answered(page, 'français', t.languageChosen);
    emit({ event: 'step', step: 'french-chosen', text: '', shot: await shot('french-chosen') });
  }
  emit({ event: 'ready' });
  await warnedDialPlan(page, shot, t, await typo(page, shot, t));
  await oneLineAdd(page, shot, t, opts);
  await audit(page, shot, t);
});
