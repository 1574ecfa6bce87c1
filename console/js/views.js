/**
 * The console's pages, in menu order. Each module exports `mount(container, ctx)` and returns its `unmount()`
 * (stop timers, close sockets); `ctx` holds the session and the page's problem/notice areas. A new page (the
 * live Queue of issue #11) is one more entry here and one module under views/.
 */
export const VIEWS = [
  // `roles`: who sees the page (the API still decides what each call may do).
  { id: 'webhooks', title: 'Webhooks', roles: ['admin'], load: () => import('./views/webhooks.js') },
  // After webhooks, so an admin still lands on webhooks; an agent lands here.
  { id: 'queue', title: 'Queue', roles: ['admin', 'agent'], load: () => import('./views/queue.js') },
];
