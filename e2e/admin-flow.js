// Ada Admin adds a phone user in the local Teams client: "add user", the form, Review, Add user,
// then the progress card until it says Done. One JSON line per step on stdout.
'use strict';
const { emit, scenario, waitForText } = require('./lib');
const { addUserUntilProgress } = require('./add-user');

scenario(async (page, shot, opts) => {
  const card = await addUserUntilProgress(page, shot, opts);
  const doneText = await waitForText(page, card, ['Done.', 'Enable calling'], 60000);
  emit({ event: 'step', step: 'done', text: doneText, shot: await shot('done', card) });
});
