// Ada Admin's add-user steps in the local Teams client, shared by the scenarios: the welcome card,
// "add user", the form, Review, Add user, until the progress card shows. Emits one step each.
'use strict';
const { CARD, emit, field, fields, typeMessage, waitForText } = require('./lib');

const EXTENSION = 'SIP user (PBX extension)'; // the extension's label (cards/add_user_form.py)

async function addUserUntilProgress(page, shot, opts) {
  const user = opts.user || { search: 'Adele', name: 'Adele Vance' };
  const route = opts.route || 'CA Central';
  const extension = opts.extension || '105';

  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  const welcomeText = await waitForText(page, welcome, ['Hi Ada Admin']);
  emit({ event: 'step', step: 'opened', text: welcomeText, shot: await shot('opened', welcome) });

  const before = await page.locator(CARD).count();
  await typeMessage(page, 'add user');
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  // Each click answers with the next card, which replaces this one in place.
  const card = page.locator(CARD).last();
  const formText = await waitForText(page, card, ['Add a phone user to Contoso', 'Review']);
  // The text boxes as shown before anything is typed (labels, placeholders, limits).
  emit({ event: 'step', step: 'form', text: formText, fields: await fields(card), shot: await shot('form', card) });

  const combos = card.locator('input[role="combobox"]');
  await combos.nth(1).click();
  await page.getByRole('option', { name: route, exact: true }).click();
  await combos.nth(2).click();
  await combos.nth(2).pressSequentially(user.search, { delay: 40 });
  const option = page.getByRole('option', { name: new RegExp(user.name) }).first();
  await option.waitFor();
  await option.click();
  await field(card, EXTENSION).fill(extension);
  const filled = {
    voiceRoute: await combos.nth(1).inputValue(),
    teamsUser: await combos.nth(2).inputValue(),
    extension: await field(card, EXTENSION).inputValue(),
  };
  emit({ event: 'step', step: 'filled', values: filled, text: await card.innerText(), shot: await shot('filled', card) });

  await card.getByRole('button', { name: 'Review', exact: true }).click();
  const reviewText = await waitForText(page, card, ['Check and add', 'Add user']);
  emit({ event: 'step', step: 'review', text: reviewText, shot: await shot('review', card) });

  await card.getByRole('button', { name: 'Add user', exact: true }).click();
  const progressText = await waitForText(page, card, [`Adding `, `(extension ${extension})`]);
  emit({ event: 'step', step: 'progress', text: progressText, shot: await shot('progress', card) });
  return card;
}

module.exports = { addUserUntilProgress };
