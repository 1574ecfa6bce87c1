/** The demo tenant `npm start` seeds in development (DEMO_SEED=true; refused in production). */
export const DEMO = {
  tenantId: '00000000-0000-4000-8000-000000000001',
  customerId: '00000000-0000-4000-8000-0000000000c1',
  adminEmail: 'admin@demo.deskflow.local',
  adminPassword: 'deskflow-demo-password',
} as const;
